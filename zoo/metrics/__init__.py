"""Metrics shared across models (video super-resolution: Y-PSNR, LPIPS, tOF, tLP)."""

from zoo.metrics.video import LPIPS, VideoMetrics, psnr_y, rgb_to_y, tof

__all__ = ["LPIPS", "VideoMetrics", "psnr_y", "rgb_to_y", "tof"]
