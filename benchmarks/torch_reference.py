"""The PyTorch reference: Burgess et al.'s beta-VAE the way 1Konny/Beta-VAE writes it.

``nn.Sequential`` encoder and decoder (4x4 stride-2 convolutions with padding 1, NCHW),
Bernoulli reconstruction as ``binary_cross_entropy_with_logits`` summed over pixels and divided
by the batch, the closed-form Gaussian KL, Burgess's capacity objective
``recon + gamma * |KL - C|`` with ``C = clamp(C_max * step / C_stop, 0, C_max)``, and Adam
(lr 5e-4), run eagerly. The benchmarks measure tfbvae against it; ``load_keras_weights`` copies
a tfbvae Burgess model's weights in, so a test can check that both compute the same loss.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class View(nn.Module):
    """1Konny's ``View``, with ``reshape`` for ``view``: oneDNN may hand back channels-last
    activations (inference mode), which ``view`` refuses."""

    def __init__(self, *shape: int):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape(-1, *self.shape)


class BurgessVAE(nn.Module):
    """1Konny's ``BetaVAE_B``: Burgess et al. 2018, Appendix A.1."""

    def __init__(self, z_dim: int = 10, nc: int = 1):
        super().__init__()
        self.z_dim = z_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(nc, 32, 4, 2, 1), nn.ReLU(True),  # B, 32, 32, 32
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(True),  # B, 32, 16, 16
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(True),  # B, 32,  8,  8
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(True),  # B, 32,  4,  4
            View(32 * 4 * 4),                           # B, 512
            nn.Linear(32 * 4 * 4, 256), nn.ReLU(True),  # B, 256
            nn.Linear(256, 256), nn.ReLU(True),         # B, 256
            nn.Linear(256, z_dim * 2),                  # B, 2z
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Linear(z_dim, 256), nn.ReLU(True),       # B, 256
            nn.Linear(256, 256), nn.ReLU(True),         # B, 256
            nn.Linear(256, 32 * 4 * 4), nn.ReLU(True),  # B, 512
            View(32, 4, 4),                             # B, 32,  4,  4
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(True),  # B, 32,  8,  8
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(True),  # B, 32, 16, 16
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(True),  # B, 32, 32, 32
            nn.ConvTranspose2d(32, nc, 4, 2, 1),                 # B, nc, 64, 64
        )  # fmt: skip
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.kaiming_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def encode(self, x):
        distributions = self.encoder(x)
        return distributions[:, : self.z_dim], distributions[:, self.z_dim :]

    def forward(self, x, eps=None):
        mu, logvar = self.encode(x)
        if eps is None:
            eps = torch.randn_like(mu)
        z = mu + (0.5 * logvar).exp() * eps
        return self.decoder(z).view(x.size()), mu, logvar


def capacity_loss(x, x_recon, mu, logvar, capacity, gamma: float = 1000.0) -> dict:
    """Burgess et al.'s objective, as 1Konny's ``solver.py`` computes it."""
    batch = x.size(0)
    recon = F.binary_cross_entropy_with_logits(x_recon, x, reduction="sum").div(batch)
    kld = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(1).mean()
    return {"loss": recon + gamma * (kld - capacity).abs(), "reconstruction": recon, "kl": kld}


class Trainer:
    """Model, Adam and the training step of the reference; ``step(x)`` trains on one batch.

    ``amp`` = ``"bf16"`` or ``"fp16"`` runs the forward pass under ``torch.autocast`` (GPU
    benchmarks); fp16 adds a ``GradScaler`` as PyTorch's AMP recipe does.
    """

    def __init__(
        self,
        z_dim: int = 10,
        nc: int = 1,
        lr: float = 5e-4,
        c_max: float = 25.0,
        c_stop_steps: int = 100_000,
        gamma: float = 1000.0,
        device: str = "cpu",
        amp: str | None = None,
        channels_last: bool = False,
    ):
        self.device = torch.device(device)
        self.model = BurgessVAE(z_dim, nc).to(self.device)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model = self.model.to(memory_format=self.memory_format)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr, betas=(0.9, 0.999))
        self.c_max, self.c_stop_steps, self.gamma = c_max, c_stop_steps, gamma
        self.amp_dtype = {None: None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]
        self.scaler = torch.amp.GradScaler(self.device.type) if amp == "fp16" else None
        self.global_step = 0

    def step(self, x) -> torch.Tensor:
        self.global_step += 1
        capacity = min(self.c_max, self.c_max * self.global_step / self.c_stop_steps)
        with torch.autocast(
            self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None
        ):
            x_recon, mu, logvar = self.model(x)
        loss = capacity_loss(x, x_recon.float(), mu.float(), logvar.float(), capacity, self.gamma)[
            "loss"
        ]
        self.optimizer.zero_grad()
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        return loss


def load_keras_weights(model: BurgessVAE, encoder, decoder) -> None:
    """Copies a tfbvae ``burgess`` encoder/decoder's weights into ``model``.

    Keras is NHWC, PyTorch NCHW: conv kernels go HWIO -> OIHW, transposed-conv kernels
    HW(out)(in) -> (in)(out)HW, and the Dense layers next to Flatten/Reshape have their rows
    (or columns) permuted from (h, w, c) to (c, h, w) order.
    """
    from keras import layers

    convs = [l for l in encoder.layers if isinstance(l, layers.Conv2D)]
    dense = [l for l in encoder.layers if isinstance(l, layers.Dense)]
    deconvs = [l for l in decoder.layers if isinstance(l, layers.Conv2DTranspose)]
    dec_dense = [l for l in decoder.layers if isinstance(l, layers.Dense)]
    hwc_to_chw = np.arange(4 * 4 * 32).reshape(4, 4, 32).transpose(2, 0, 1).ravel()

    def put(module, weight, bias):
        module.weight.data = torch.from_numpy(np.ascontiguousarray(weight, dtype=np.float32))
        module.bias.data = torch.from_numpy(np.ascontiguousarray(bias, dtype=np.float32))

    t_convs = [m for m in model.encoder if isinstance(m, nn.Conv2d)]
    t_lin = [m for m in model.encoder if isinstance(m, nn.Linear)]
    for keras_layer, module in zip(convs, t_convs):
        k, b = keras_layer.get_weights()
        put(module, k.transpose(3, 2, 0, 1), b)
    (k1, b1), (k2, b2) = dense[0].get_weights(), dense[1].get_weights()
    put(t_lin[0], k1[hwc_to_chw].T, b1)
    put(t_lin[1], k2.T, b2)
    (km, bm), (kv, bv) = dense[2].get_weights(), dense[3].get_weights()  # mean, log_var heads
    put(t_lin[2], np.concatenate([km, kv], axis=1).T, np.concatenate([bm, bv]))

    d_lin = [m for m in model.decoder if isinstance(m, nn.Linear)]
    d_deconvs = [m for m in model.decoder if isinstance(m, nn.ConvTranspose2d)]
    for i, (keras_layer, module) in enumerate(zip(dec_dense, d_lin)):
        k, b = keras_layer.get_weights()
        if i == len(d_lin) - 1:  # feeds the Reshape: its outputs are in (h, w, c) order
            k, b = k[:, hwc_to_chw], b[hwc_to_chw]
        put(module, k.T, b)
    for keras_layer, module in zip(deconvs, d_deconvs):
        k, b = keras_layer.get_weights()
        put(module, k.transpose(3, 2, 0, 1), b)
