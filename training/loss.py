"""StyleGAN2 losses (Karras et al., CVPR 2020): non-saturating logistic loss, lazy R1 and path-length
regularisation, style mixing; and the hinge loss of SN-GAN (Miyato et al. 2018) for the conventional backbone."""

import contextlib

import numpy as np
import torch
import torch.nn.functional as F

from torch_utils import training_stats
from torch_utils.ops import conv2d_gradfix

#----------------------------------------------------------------------------
# Interface of every loss: accumulate the gradients of one training phase. D sees every image, real or fake,
# through the augmentation pipe (ADA, Karras et al. 2020), when there is one.

class Loss:
    def __init__(self, device, G, D, augment_pipe=None, ada_controller=None):
        self.device = device
        self.G = G
        self.D = D
        self.augment_pipe = augment_pipe
        self.ada_controller = ada_controller

    def accumulate_gradients(self, phase, real_img, real_c, gen_z, gen_c, gain, cur_nimg):
        raise NotImplementedError()

    def run_D(self, img, c):
        if self.augment_pipe is not None:
            img = self.augment_pipe(img)
        return self.D(img, c)

#----------------------------------------------------------------------------
# Run a block with the parameters of `module` excluded from autograd, so a phase of one network
# never accumulates gradients into the other; inputs still get gradients through it.

@contextlib.contextmanager
def _frozen(module):
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)

#----------------------------------------------------------------------------
# StyleGAN2 loss. Phases: Gmain (G adversarial), Greg (path length), Gboth, Dmain (D adversarial),
# Dreg (R1), Dboth. `gain` multiplies the loss: the training loop passes the lazy-regularisation
# interval for the reg phases (StyleGAN2 Sec. 3.1: R1 every 16, PL every 4 minibatches).

class StyleGAN2Loss(Loss):
    def __init__(self,
        device,                         # Device of the networks (torch.device).
        G,                              # Generator: G.mapping(z, c, update_emas=) -> ws, G.synthesis(ws) -> img.
        D,                              # Discriminator: D(img, c) -> logits [N, 1].
        augment_pipe        = None,     # Augmentation applied to every image D sees, None = disable.
        ada_controller      = None,     # Receives D's logits on reals for the ADA heuristic, None = fixed p.
        r1_gamma            = 10,       # R1 regularisation weight, 0 = disable.
        style_mixing_prob   = 0.9,      # Probability of mixing the ws of two latents, 0 = disable.
        pl_weight           = 2,        # Path-length regularisation weight, 0 = disable.
        pl_batch_shrink     = 2,        # Compute the path-length penalty on batch_size // pl_batch_shrink samples.
        pl_decay            = 0.01,     # Decay of the running mean of path lengths.
        pl_no_weight_grad   = True,     # Skip the conv weight gradients (unused) in the path-length gradient pass?
    ):
        super().__init__(device, G, D, augment_pipe, ada_controller)
        self.r1_gamma = r1_gamma
        self.style_mixing_prob = style_mixing_prob
        self.pl_weight = pl_weight
        self.pl_batch_shrink = pl_batch_shrink
        self.pl_decay = pl_decay
        self.pl_no_weight_grad = pl_no_weight_grad
        self.pl_mean = torch.zeros([], device=device)

    def run_G(self, z, c, update_emas=False):
        """Returns (img, ws). With style mixing, the ws from one random cutoff index onwards come from a
        second latent (StyleGAN Sec. 3.1). Works for ws [N, num_ws, w_dim] and any extra middle axes."""
        ws = self.G.mapping(z, c, update_emas=update_emas)
        if self.style_mixing_prob > 0:
            num_ws = ws.shape[-2]
            cutoff = torch.randint(1, num_ws, [], device=ws.device)
            cutoff = torch.where(torch.rand([], device=ws.device) < self.style_mixing_prob, cutoff, num_ws)
            mix = (torch.arange(num_ws, device=ws.device) >= cutoff).unsqueeze(-1) # [num_ws, 1]
            ws = torch.where(mix, self.G.mapping(torch.randn_like(z), c, update_emas=False), ws)
        img = self.G.synthesis(ws)
        return img, ws

    def accumulate_gradients(self, phase, real_img, real_c, gen_z, gen_c, gain, cur_nimg):
        assert phase in ['Gmain', 'Greg', 'Gboth', 'Dmain', 'Dreg', 'Dboth']
        do_Gmain = phase in ['Gmain', 'Gboth']
        do_Dmain = phase in ['Dmain', 'Dboth']
        do_Gpl = phase in ['Greg', 'Gboth'] and self.pl_weight != 0
        do_Dr1 = phase in ['Dreg', 'Dboth'] and self.r1_gamma != 0

        # Gmain: increase D(fake): softplus(-D(G(z))).
        if do_Gmain:
            with _frozen(self.D):
                gen_img, _gen_ws = self.run_G(gen_z, gen_c)
                gen_logits = self.run_D(gen_img, gen_c)
                training_stats.report('Loss/scores/fake', gen_logits)
                training_stats.report('Loss/signs/fake', gen_logits.sign())
                loss_Gmain = F.softplus(-gen_logits)
                training_stats.report('Loss/G/loss', loss_Gmain)
                loss_Gmain.mean().mul(gain).backward()

        # Gpl: (|J^T y| - a)^2 with y ~ N(0, I) / sqrt(H*W) and a the running mean (StyleGAN2 Sec. 3.2).
        if do_Gpl:
            batch_size = gen_z.shape[0] // self.pl_batch_shrink
            gen_img, gen_ws = self.run_G(gen_z[:batch_size], gen_c[:batch_size])
            pl_noise = torch.randn_like(gen_img) / np.sqrt(gen_img.shape[2] * gen_img.shape[3])
            with conv2d_gradfix.no_weight_gradients(self.pl_no_weight_grad):
                pl_grads = torch.autograd.grad(outputs=[(gen_img * pl_noise).sum()], inputs=[gen_ws],
                    create_graph=True, only_inputs=True)[0]
            pl_lengths = pl_grads.square().sum(-1).flatten(1).mean(1).sqrt()
            pl_mean = self.pl_mean.lerp(pl_lengths.mean(), self.pl_decay)
            self.pl_mean.copy_(pl_mean.detach())
            pl_penalty = (pl_lengths - pl_mean).square()
            training_stats.report('Loss/pl_penalty', pl_penalty)
            loss_Gpl = pl_penalty * self.pl_weight
            training_stats.report('Loss/G/reg', loss_Gpl)
            loss_Gpl.mean().mul(gain).backward()

        # Dmain: decrease D(fake): softplus(D(G(z))). G runs without a graph and updates its w_avg.
        loss_Dgen = 0
        if do_Dmain:
            with torch.no_grad():
                gen_img, _gen_ws = self.run_G(gen_z, gen_c, update_emas=True)
            gen_logits = self.run_D(gen_img, gen_c)
            training_stats.report('Loss/scores/fake', gen_logits)
            training_stats.report('Loss/signs/fake', gen_logits.sign())
            loss_Dgen = F.softplus(gen_logits)
            loss_Dgen.mean().mul(gain).backward()

        # Dmain: increase D(real): softplus(-D(x)). Dr1: gamma/2 * |grad_x D(x)|^2 (Mescheder et al., ICML 2018).
        if do_Dmain or do_Dr1:
            real_img_tmp = real_img.detach().requires_grad_(do_Dr1)
            real_logits = self.run_D(real_img_tmp, real_c)
            training_stats.report('Loss/scores/real', real_logits)
            training_stats.report('Loss/signs/real', real_logits.sign())
            if self.ada_controller is not None:
                self.ada_controller.accumulate(real_logits)

            loss_D = 0
            if do_Dmain:
                loss_Dreal = F.softplus(-real_logits)
                training_stats.report('Loss/D/loss', loss_Dgen + loss_Dreal)
                loss_D = loss_D + loss_Dreal.mean()

            if do_Dr1:
                with conv2d_gradfix.no_weight_gradients():
                    r1_grads = torch.autograd.grad(outputs=[real_logits.sum()], inputs=[real_img_tmp],
                        create_graph=True, only_inputs=True)[0]
                r1_penalty = r1_grads.square().sum([1, 2, 3])
                loss_Dr1 = r1_penalty * (self.r1_gamma / 2)
                training_stats.report('Loss/r1_penalty', r1_penalty)
                training_stats.report('Loss/D/reg', loss_Dr1)
                loss_D = loss_D + loss_Dr1.mean()

            loss_D.mul(gain).backward()

#----------------------------------------------------------------------------

# Hinge loss (Lim & Ye 2017; SN-GAN, Miyato et al. 2018), the one implementation that re-training and every search
# algorithm use: D minimises E relu(1 - D(x)) + E relu(1 + D(G(z))), G minimises -E D(G(z)).

def d_hinge(real_logits, fake_logits):
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()

def g_hinge(fake_logits):
    return -fake_logits.mean()

#----------------------------------------------------------------------------
# Hinge loss (Lim & Ye 2017; SN-GAN, Miyato et al. 2018), as AutoGAN and alphaGAN train the conventional backbone:
# D minimises relu(1 - D(x)) + relu(1 + D(G(z))), G minimises -D(G(z)). No regularisers: the reg phases do nothing.

class HingeLoss(Loss):
    def __init__(self,
        device,                         # Device of the networks (torch.device).
        G,                              # Generator: G(z, c) -> img.
        D,                              # Discriminator: D(img, c) -> logits [N, 1].
        augment_pipe        = None,     # Augmentation applied to every image D sees, None = disable.
        ada_controller      = None,     # Receives D's logits on reals for the ADA heuristic, None = fixed p.
    ):
        super().__init__(device, G, D, augment_pipe, ada_controller)

    def accumulate_gradients(self, phase, real_img, real_c, gen_z, gen_c, gain, cur_nimg):
        assert phase in ['Gmain', 'Greg', 'Gboth', 'Dmain', 'Dreg', 'Dboth']

        # Gmain: increase D(G(z)): -D(G(z)).
        if phase in ['Gmain', 'Gboth']:
            with _frozen(self.D):
                gen_logits = self.run_D(self.G(gen_z, gen_c), gen_c)
                training_stats.report('Loss/scores/fake', gen_logits)
                loss_G = -gen_logits
                training_stats.report('Loss/G/loss', loss_G)
                loss_G.mean().mul(gain).backward()

        # Dmain: relu(1 + D(G(z))) + relu(1 - D(x)).
        if phase in ['Dmain', 'Dboth']:
            with torch.no_grad():
                gen_img = self.G(gen_z, gen_c)
            gen_logits = self.run_D(gen_img, gen_c)
            real_logits = self.run_D(real_img.detach(), real_c)
            training_stats.report('Loss/scores/fake', gen_logits)
            training_stats.report('Loss/scores/real', real_logits)
            training_stats.report('Loss/signs/real', real_logits.sign())
            if self.ada_controller is not None:
                self.ada_controller.accumulate(real_logits)
            loss_D = d_hinge(real_logits, gen_logits)
            training_stats.report('Loss/D/loss', loss_D)
            loss_D.mul(gain).backward()

#----------------------------------------------------------------------------
