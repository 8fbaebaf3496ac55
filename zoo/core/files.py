"""The names of the files in a weights folder (the Hub layout), shared by the base module, the hub and the cards.

Plain constants with no imports, so that any layer of zoo can use them without pulling in another.
"""

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"
BEFORE_AFTER_NAME = "before_after.png"
