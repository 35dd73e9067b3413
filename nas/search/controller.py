"""LSTM controller of AutoGAN (Gong et al. 2019, Sec. 3.3.2): samples one cell's tokens step by step."""

import torch
import torch.nn.functional as F

#----------------------------------------------------------------------------
# One controller per cell (multi-level search). LSTMCell(hidden, hidden); one embedding table over every token's
# choices; one Linear(hidden, n_choices) head per token. The first input is zeros, then the embedding of the
# previous action. The initial (h, c) is zeros or, at later levels, the final state of a kept beam.

class Controller(torch.nn.Module):
    def __init__(self,
        token_sizes,                # Number of choices of each token, in sampling order.
        hidden_size     = 100,      # LSTM width (authors' code: 100).
    ):
        super().__init__()
        self.token_sizes = [int(n) for n in token_sizes]
        self.hidden_size = hidden_size
        self.offsets = [sum(self.token_sizes[:t]) for t in range(len(self.token_sizes))]
        self.lstm = torch.nn.LSTMCell(hidden_size, hidden_size)
        self.embedding = torch.nn.Embedding(sum(self.token_sizes), hidden_size)
        self.heads = torch.nn.ModuleList([torch.nn.Linear(hidden_size, n) for n in self.token_sizes])

    def initial_state(self, batch, device=None):
        """Zero (h, c) of `batch` rows on `device` (None = the controller's)."""
        device = self.embedding.weight.device if device is None else device
        zeros = torch.zeros([batch, self.hidden_size], device=device)
        return zeros, zeros.clone()

    def _run(self, batch, initial, actions=None, generator=None, greedy=False):
        """Step through the tokens; sample (or follow `actions`). Returns actions, log-probs and entropies [N, T],
        the per-step probabilities and the final (h, c)."""
        h, c = self.initial_state(batch) if initial is None else initial
        x = torch.zeros_like(h)
        taken, log_probs, entropies, probs = [], [], [], []
        for t, n in enumerate(self.token_sizes):
            h, c = self.lstm(x, (h, c))
            logp = F.log_softmax(self.heads[t](h), dim=1)
            p = logp.exp()
            if actions is not None:
                a = actions[:, t].to(h.device)
            elif greedy:
                a = p.argmax(dim=1)
            else:
                a = torch.multinomial(p.detach().cpu(), 1, generator=generator).squeeze(1).to(h.device)
            taken.append(a)
            log_probs.append(logp.gather(1, a[:, None]).squeeze(1))
            entropies.append(-(p * logp).sum(dim=1))
            probs.append(p)
            x = self.embedding(a + self.offsets[t])
        return torch.stack(taken, 1), torch.stack(log_probs, 1), torch.stack(entropies, 1), probs, (h, c)

    def sample(self, batch, initial=None, generator=None, return_state=False):
        """Draw `batch` samples. Returns (actions [N, T] long, log_probs [N], entropies [N]) summed over the tokens,
        plus the final (h, c) with return_state. `generator`: a CPU torch.Generator for reproducible draws."""
        actions, log_probs, entropies, _probs, state = self._run(batch, initial, generator=generator)
        out = (actions, log_probs.sum(1), entropies.sum(1))
        return out + (state,) if return_state else out

    def log_prob(self, actions, initial=None):
        """Log-probability [N] of given actions [N, T] (differentiable)."""
        return self._run(actions.shape[0], initial, actions=actions)[1].sum(1)

    def entropy(self, actions, initial=None):
        """Sum over tokens of the entropy [N] of each step's distribution along the given actions' prefixes."""
        return self._run(actions.shape[0], initial, actions=actions)[2].sum(1)

    @torch.no_grad()
    def greedy(self, initial=None):
        """(actions [1, T], per-step probabilities [list of [n]]) along the most likely choice at every step."""
        actions, _lp, _ent, probs, _state = self._run(1, initial, greedy=True)
        return actions, [p[0] for p in probs]

    @torch.no_grad()
    def final_state(self, actions, initial=None):
        """The (h, c) after following `actions` [N, T]: the state a kept beam hands to the next level."""
        return self._run(actions.shape[0], initial, actions=actions)[4]

#----------------------------------------------------------------------------
