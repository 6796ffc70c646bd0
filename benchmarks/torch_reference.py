"""The PyTorch references: the networks of tfbvae's flagfiles the way 1Konny/Beta-VAE writes them.

``nn.Sequential`` encoders and decoders (NCHW; a 4x4 stride-2 convolution "same"-padded as
Keras pads it is ``padding=1``, also for the transposed ones; a 2x2 stride-2 one needs none):
``BurgessVAE`` (1Konny's ``BetaVAE_B``, dsprites.flags), ``HigginsConvVAE`` (Higgins et al.'s
CelebA net, celeba.flags; 1Konny's ``BetaVAE_H`` is the same arithmetic with its FC layers
written as 4x4 convolutions) and ``LocatelloVAE`` (disentanglement_lib's ``conv_encoder`` and
``deconv_decoder``). The loss: Bernoulli reconstruction as ``binary_cross_entropy_with_logits``,
or Gaussian as 1Konny's ``mse_loss(sigmoid(x_recon), x)`` scaled by 1 / (2 sigma^2) plus the
density's constant (tfbvae's full negative log-density), summed over pixels and divided by the
batch; the closed-form Gaussian KL; Burgess's capacity objective ``recon + gamma * |KL - C|``
with ``C = clamp(C_max * step / C_stop, 0, C_max)``; and Adam (lr 5e-4), run eagerly. The
benchmarks measure tfbvae against it; ``load_keras_weights`` copies a tfbvae model's weights
in, so a test can check that both compute the same function and loss.
"""

from __future__ import annotations

import math

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


class ConvVAE(nn.Module):
    """An ``encoder`` (images -> [mean, log_var] in one 2z vector) and a ``decoder`` (z ->
    logits); subclasses build both."""

    z_dim: int
    encoder: nn.Sequential
    decoder: nn.Sequential

    def _init_weights(self, init) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                init(m.weight)
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


class BurgessVAE(ConvVAE):
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
        # 1Konny's kaiming_normal_ on Linear and Conv2d (tfbvae's burgess: he_normal).
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.kaiming_normal_(m.weight)
                nn.init.zeros_(m.bias)


class HigginsConvVAE(ConvVAE):
    """Higgins et al. 2017, Appendix A: the CelebA / 3D chairs net (tfbvae's ``higgins_conv``)."""

    def __init__(self, z_dim: int = 32, nc: int = 3):
        super().__init__()
        self.z_dim = z_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(nc, 32, 4, 2, 1), nn.ReLU(True),  # B, 32, 32, 32
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(True),  # B, 32, 16, 16
            nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(True),  # B, 64,  8,  8
            nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU(True),  # B, 64,  4,  4
            View(64 * 4 * 4),                           # B, 1024
            nn.Linear(64 * 4 * 4, 256), nn.ReLU(True),  # B, 256
            nn.Linear(256, z_dim * 2),                  # B, 2z
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Linear(z_dim, 256), nn.ReLU(True),       # B, 256
            nn.Linear(256, 64 * 4 * 4), nn.ReLU(True),  # B, 1024
            View(64, 4, 4),                             # B, 64,  4,  4
            nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(True),  # B, 64,  8,  8
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(True),  # B, 32, 16, 16
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(True),  # B, 32, 32, 32
            nn.ConvTranspose2d(32, nc, 4, 2, 1),                 # B, nc, 64, 64
        )  # fmt: skip
        self._init_weights(nn.init.xavier_uniform_)  # Keras' default, glorot_uniform


class LocatelloVAE(ConvVAE):
    """disentanglement_lib's ``conv_encoder`` / ``deconv_decoder`` (Locatello et al. 2019),
    tfbvae's ``locatello``: the third and fourth convolutions are 2x2, stride 2."""

    def __init__(self, z_dim: int = 10, nc: int = 1):
        super().__init__()
        self.z_dim = z_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(nc, 32, 4, 2, 1), nn.ReLU(True),  # B, 32, 32, 32
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(True),  # B, 32, 16, 16
            nn.Conv2d(32, 64, 2, 2), nn.ReLU(True),     # B, 64,  8,  8
            nn.Conv2d(64, 64, 2, 2), nn.ReLU(True),     # B, 64,  4,  4
            View(64 * 4 * 4),                           # B, 1024
            nn.Linear(64 * 4 * 4, 256), nn.ReLU(True),  # B, 256
            nn.Linear(256, z_dim * 2),                  # B, 2z
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Linear(z_dim, 256), nn.ReLU(True),       # B, 256
            nn.Linear(256, 64 * 4 * 4), nn.ReLU(True),  # B, 1024
            View(64, 4, 4),                             # B, 64,  4,  4
            nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(True),  # B, 64,  8,  8
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(True),  # B, 32, 16, 16
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(True),  # B, 32, 32, 32
            nn.ConvTranspose2d(32, nc, 4, 2, 1),                 # B, nc, 64, 64
        )  # fmt: skip
        self._init_weights(nn.init.xavier_uniform_)  # tf.layers' default, glorot_uniform


NETWORKS = {"burgess": BurgessVAE, "higgins_conv": HigginsConvVAE, "locatello": LocatelloVAE}


def reconstruction_loss(x, x_recon, likelihood: str = "bernoulli", sigma: float = 1.0):
    """-log p(x | logits) summed over pixels, divided by the batch, as 1Konny's solver writes
    it (``gaussian``: its ``mse_loss`` of the sigmoid, scaled by 1 / (2 sigma^2), plus the
    density's constant per pixel, which tfbvae's Gaussian includes)."""
    batch = x.size(0)
    if likelihood == "bernoulli":
        return F.binary_cross_entropy_with_logits(x_recon, x, reduction="sum").div(batch)
    if likelihood == "gaussian":
        sse = F.mse_loss(torch.sigmoid(x_recon), x, reduction="sum").div(batch)
        const = (math.log(sigma) + 0.5 * math.log(2.0 * math.pi)) * (x.numel() // batch)
        return sse / (2.0 * sigma**2) + const
    raise ValueError(f"Unknown likelihood {likelihood!r}: bernoulli or gaussian.")


def capacity_loss(
    x, x_recon, mu, logvar, capacity, gamma: float = 1000.0, likelihood: str = "bernoulli",
    sigma: float = 1.0,
) -> dict:
    """Burgess et al.'s objective, as 1Konny's ``solver.py`` computes it."""
    recon = reconstruction_loss(x, x_recon, likelihood, sigma)
    kld = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(1).mean()
    return {"loss": recon + gamma * (kld - capacity).abs(), "reconstruction": recon, "kl": kld}


class Trainer:
    """Model, Adam and the training step of the reference; ``step(x)`` trains on one batch.

    ``network``: a key of :data:`NETWORKS`; ``likelihood``: ``bernoulli`` or ``gaussian``
    (with ``sigma``). ``amp`` = ``"bf16"`` or ``"fp16"`` runs the forward pass under
    ``torch.autocast`` (GPU benchmarks); fp16 adds a ``GradScaler`` as PyTorch's AMP recipe does.
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
        network: str = "burgess",
        likelihood: str = "bernoulli",
        sigma: float = 1.0,
    ):
        self.device = torch.device(device)
        self.model = NETWORKS[network](z_dim, nc).to(self.device)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model = self.model.to(memory_format=self.memory_format)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr, betas=(0.9, 0.999))
        self.c_max, self.c_stop_steps, self.gamma = c_max, c_stop_steps, gamma
        self.likelihood, self.sigma = likelihood, sigma
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
        loss = capacity_loss(
            x, x_recon.float(), mu.float(), logvar.float(), capacity, self.gamma,
            self.likelihood, self.sigma,
        )["loss"]  # fmt: skip
        self.optimizer.zero_grad()
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        return loss


def load_keras_weights(model: ConvVAE, encoder, decoder) -> None:
    """Copies a tfbvae encoder/decoder's weights into ``model`` (any of :data:`NETWORKS`, the
    Keras network of the same name).

    Keras is NHWC, PyTorch NCHW: conv kernels go HWIO -> OIHW, transposed-conv kernels
    HW(out)(in) -> (in)(out)HW, and the Dense layers next to Flatten/Reshape have their rows
    (or columns) permuted from (h, w, c) to (c, h, w) order. The two Keras heads (``mean``,
    ``log_var``) are the halves of the reference's last encoder layer.
    """
    from keras import layers

    def chw_order(shape) -> np.ndarray:
        """Index, in (h, w, c) order, of each element of a (c, h, w)-ordered flattening."""
        h, w, c = (int(d) for d in shape)
        return np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).ravel()

    def put(module, weight, bias):
        if tuple(module.weight.shape) != weight.shape or tuple(module.bias.shape) != bias.shape:
            raise ValueError(
                f"{module}: Keras weights {weight.shape}, {bias.shape} do not fit "
                f"{tuple(module.weight.shape)}, {tuple(module.bias.shape)}"
            )
        module.weight.data = torch.from_numpy(np.ascontiguousarray(weight, dtype=np.float32))
        module.bias.data = torch.from_numpy(np.ascontiguousarray(bias, dtype=np.float32))

    def of_type(modules, kind):
        return [m for m in modules if isinstance(m, kind)]

    # Encoder: convolutions, then Dense layers (the first after Flatten), then the two heads.
    convs = of_type(encoder.layers, layers.Conv2D)
    heads = [encoder.get_layer("mean"), encoder.get_layer("log_var")]
    dense = [l for l in of_type(encoder.layers, layers.Dense) if l not in heads]
    t_convs = of_type(model.encoder, nn.Conv2d)
    t_lin = of_type(model.encoder, nn.Linear)
    if len(convs) != len(t_convs) or len(dense) + 1 != len(t_lin):
        raise ValueError(f"{encoder.name} and {type(model).__name__} differ in their layers")
    for keras_layer, module in zip(convs, t_convs):
        k, b = keras_layer.get_weights()
        put(module, k.transpose(3, 2, 0, 1), b)
    for i, (keras_layer, module) in enumerate(zip(dense, t_lin)):
        k, b = keras_layer.get_weights()
        if i == 0:  # reads the flattened convolutions, in (h, w, c) order
            k = k[chw_order(convs[-1].output.shape[1:])]
        put(module, k.T, b)
    (km, bm), (kv, bv) = heads[0].get_weights(), heads[1].get_weights()
    put(t_lin[-1], np.concatenate([km, kv], axis=1).T, np.concatenate([bm, bv]))

    # Decoder: Dense layers (the last feeds Reshape), then transposed convolutions.
    dec_dense = of_type(decoder.layers, layers.Dense)
    deconvs = of_type(decoder.layers, layers.Conv2DTranspose)
    d_lin = of_type(model.decoder, nn.Linear)
    d_deconvs = of_type(model.decoder, nn.ConvTranspose2d)
    if len(dec_dense) != len(d_lin) or len(deconvs) != len(d_deconvs):
        raise ValueError(f"{decoder.name} and {type(model).__name__} differ in their layers")
    for i, (keras_layer, module) in enumerate(zip(dec_dense, d_lin)):
        k, b = keras_layer.get_weights()
        if i == len(d_lin) - 1:  # feeds the Reshape: its outputs are in (h, w, c) order
            order = chw_order(deconvs[0].input.shape[1:])
            k, b = k[:, order], b[order]
        put(module, k.T, b)
    for keras_layer, module in zip(deconvs, d_deconvs):
        k, b = keras_layer.get_weights()
        put(module, k.transpose(3, 2, 0, 1), b)
