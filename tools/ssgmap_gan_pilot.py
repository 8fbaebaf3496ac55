"""One short SSGMap GAN run of the tiny recipe's full row, scored as the card scores it (a planning pilot, not a card
figure): does a longer run or a stronger classification weight make the edits beat leaving the face unchanged?

    python tools/ssgmap_gan_pilot.py --iterations 6000 --lambda-cls 1.0

Prints the card's metrics for the held-out faces (``tools/weights/ssgmap.py``'s evaluation), with the wall time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=1500, help="G and D iterations (linear decay over the last half, as tiny.yaml)")
    parser.add_argument("--lambda-idn", type=float, default=10.0, help="identity weight (tiny.yaml 10, official 0.1)")
    parser.add_argument("--lambda-cls", type=float, default=0.02, help="classification weight (official 0.02; StarGAN's 1)")
    parser.add_argument("--normalisation", default="face", help="SSGMapConfig.normalisation")
    args = parser.parse_args()
    if args.iterations < 2:
        raise SystemExit(f"--iterations: expected at least 2, received {args.iterations}")

    import lightning as L
    import torch

    import weights.ssgmap as evaluation
    from zoo.data.faces3d import Faces3DDataModule
    from zoo.models.ssgmap.module import SSGMap, SSGMapConfig

    torch.set_num_threads(1)
    config = SSGMapConfig(map_size=64, conv_dim=8, repeat_num=2, d_conv_dim=8, g_lr=1e-3, d_lr=1e-3, lambda_idn=args.lambda_idn, lambda_cls=args.lambda_cls,
                          num_iters=args.iterations, num_iters_decay=args.iterations // 2, lr_update_step=1, normalisation=args.normalisation)
    L.seed_everything(0)
    model = SSGMap(config)
    data = Faces3DDataModule(train_length=args.iterations, eval_length=8, batch_size=4, seed=0)
    start = time.perf_counter()
    L.Trainer(max_epochs=4, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
              limit_val_batches=0).fit(model, data)
    model.eval()
    faces, batch, identity = evaluation.held_out()
    with torch.no_grad():
        translated, reproduced = model(batch["shape"], batch["target_label"]), model(batch["shape"], batch["label"])
    scores = evaluation.scores(faces, batch, identity, translated, model.template.mirror, reproduced)
    print(json.dumps({"setting": vars(args), "seconds": round(time.perf_counter() - start), **{k: round(v, 4) for k, v in scores.items()}}))


if __name__ == "__main__":
    main()
