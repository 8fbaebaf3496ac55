"""The LM unlearning methods, one file each; every module here is imported by ``zoo.unlearning.llm.family``."""
