"""How ``tools/make_weights.py lightweight_isp_efficient`` makes the shipped ISP checkpoint: train the tiny recipe
with LightningCLI, reload the written weights, evaluate them and the pseudo-ISP on held-out synthetic RAW, draw the
before/after."""

from __future__ import annotations

from pathlib import Path

from weights.common import device_name, evaluate, fit_or_restore
from zoo.core.files import BEFORE_AFTER_NAME
from zoo.records import CheckpointRecord, EvalDataset


def make_checkpoint(spec, out_dir: Path, ckpt: str | None, overrides: list[str]) -> CheckpointRecord:
    """Train (or resume, ``ckpt``) the tiny recipe, write ``out_dir`` and return the measured record."""
    from zoo.demo import before_after
    from zoo.hub import load

    recipe = Path("recipes") / spec.name / "tiny.yaml"
    run = fit_or_restore(recipe, overrides, ckpt)
    run.model.save_pretrained(out_dir, card=False, manifest=False)  # make_weights writes the card; the record holds the hashes
    model = load(spec.name, weights=out_dir)
    datamodule = run.cli.datamodule
    datamodule.setup("test")
    scores, count = evaluate(model, datamodule.test_dataloader())
    before_after(model, spec.name).save(out_dir / BEFORE_AFTER_NAME)
    data_args = datamodule.hparams
    return CheckpointRecord(
        num_params=model.num_params(),
        metrics={"psnr": scores["psnr"], "ssim": scores["ssim"]},
        baselines={
            "classical pseudo-ISP (official formulation, bilinear demosaic)": {"psnr": scores["pseudo_isp_psnr"], "ssim": scores["pseudo_isp_ssim"]}
        },
        eval_dataset=EvalDataset(
            name="synthetic RAW from held-out bundled photographs",
            type="zoo-synthetic-unprocessed",
            split="test",
            num_samples=count,
            description=(
                f"{data_args['crop']}x{data_args['crop']} crops of the photographs 'chelsea' (scikit-image) and 'flower' "
                "(scikit-learn), never seen in training, unprocessed to 10-bit RAW with sensor noise (Brooks et al. 2019, "
                f"profile '{data_args['profile']}'); PSNR/SSIM against the original sRGB, outputs clamped to [0, 1]."
            ),
        ),
        eval_command=f"python tools/make_weights.py {spec.name}" + (f" --ckpt {ckpt}" if ckpt else ""),
        train_dataset="zoo-synthetic-unprocessed (scikit-image / scikit-learn photographs)",
        recipe=str(recipe),
        train_steps=int(run.model.generator_steps),
        train_seconds=run.seconds,
        train_device=device_name(),
    )
