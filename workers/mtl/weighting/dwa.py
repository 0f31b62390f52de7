"""Dynamic weight average: weights from how fast each task's loss falls."""

from __future__ import annotations

import torch
from torch import Tensor

from workers.mtl.weighting.base import LossWeighting


class DynamicWeightAverage(LossWeighting):
    """Liu, Johns & Davison, "End-to-End Multi-Task Learning with Attention",
    CVPR 2019 (section 3.3).

    w_t = T softmax_t(r_t / temperature), with r_t = Lbar_t(k-1) / Lbar_t(k-2)
    the ratio of task t's mean loss over the last two completed windows of
    `window` steps; 1.0 each until two windows are complete. The paper's
    window is an epoch: set `window` to the steps per epoch to reproduce it.
    Loss means stay on the device. One backward pass.
    """

    name = "dwa"
    defaults = {"temperature": 2.0, "window": 1.0}
    state_attributes = ("_window_sums", "_window_means", "_steps_in_window", "_num_windows")

    def _create_state(self) -> None:
        num_tasks = len(self.task_names)
        self._window_sums = torch.zeros(num_tasks)
        # Rows: the mean losses of the second-to-last and the last window.
        self._window_means = torch.ones(2, num_tasks)
        self._steps_in_window = 0
        self._num_windows = 0

    def loss_weights(self, losses: Tensor) -> Tensor:
        weights = self._weights_from_history().to(losses.dtype)
        self._record(losses)
        return weights

    def _weights_from_history(self) -> Tensor:
        if self._num_windows < 2:
            return torch.ones_like(self._window_sums)
        rates = self._window_means[1] / self._window_means[0]
        num_tasks = len(self.task_names)
        return num_tasks * torch.softmax(rates / self.params["temperature"], dim=0)

    def _record(self, losses: Tensor) -> None:
        self._window_sums = self._window_sums + losses.to(self._window_sums.dtype)
        self._steps_in_window += 1
        if self._steps_in_window == int(self.params["window"]):
            latest = self._window_sums / self._steps_in_window
            self._window_means = torch.stack([self._window_means[1], latest])
            self._window_sums = torch.zeros_like(self._window_sums)
            self._steps_in_window = 0
            self._num_windows += 1
