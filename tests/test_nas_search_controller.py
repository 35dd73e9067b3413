"""nas/search/controller.py: log-probabilities and entropies against hand computations and an LSTM written here."""

import math

import torch

from nas.search.controller import Controller

SIZES = [2, 3, 3, 2, 4] # cell 3 of the AutoGAN space

def zero_weights_with_biases(ctrl, biases):
    with torch.no_grad():
        for p in ctrl.parameters():
            p.zero_()
        for head, b in zip(ctrl.heads, biases):
            head.bias.copy_(torch.tensor(b))
    return ctrl

def randomize(module, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    return module

def reference(ctrl, actions, h=None, c=None):
    """Per-sample (sum log p, sum entropy) from the LSTM equations, row by row."""
    out = []
    for row in range(actions.shape[0]):
        hh = torch.zeros(ctrl.hidden_size) if h is None else h[row]
        cc = torch.zeros(ctrl.hidden_size) if c is None else c[row]
        x = torch.zeros(ctrl.hidden_size)
        logp_sum, ent_sum = 0.0, 0.0
        for t, n in enumerate(ctrl.token_sizes):
            gates = ctrl.lstm.weight_ih @ x + ctrl.lstm.bias_ih + ctrl.lstm.weight_hh @ hh + ctrl.lstm.bias_hh
            i, f, g, o = gates.chunk(4)
            cc = torch.sigmoid(f) * cc + torch.sigmoid(i) * torch.tanh(g)
            hh = torch.sigmoid(o) * torch.tanh(cc)
            logits = (ctrl.heads[t].weight @ hh + ctrl.heads[t].bias).tolist()
            norm = math.log(sum(math.exp(v) for v in logits))
            a = int(actions[row, t])
            logp_sum += logits[a] - norm
            ent_sum -= sum(math.exp(v - norm) * (v - norm) for v in logits)
            x = ctrl.embedding.weight[sum(ctrl.token_sizes[:t]) + a]
        out.append((logp_sum, ent_sum))
    return torch.tensor(out, dtype=torch.float32).T

#----------------------------------------------------------------------------

def test_known_distribution_by_hand():
    biases = [[0.0, math.log(3)], [0.0, 0.0, 0.0], [math.log(2), 0.0, 0.0], [1.0, -1.0], [0.0, 0.0, 0.0, 0.0]]
    ctrl = zero_weights_with_biases(Controller(SIZES, hidden_size=6), biases)
    actions = torch.tensor([[1, 2, 0, 0, 3], [0, 0, 1, 1, 0]])
    e = math.e
    p_row0 = [3 / 4, 1 / 3, 2 / 4, e / (e + 1 / e), 1 / 4]
    p_row1 = [1 / 4, 1 / 3, 1 / 4, (1 / e) / (e + 1 / e), 1 / 4]
    expected = torch.tensor([sum(math.log(p) for p in p_row0), sum(math.log(p) for p in p_row1)])
    torch.testing.assert_close(ctrl.log_prob(actions), expected)
    q = e / (e + 1 / e)
    entropy = (-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)) + math.log(3) - (0.5 * math.log(0.5)
               + 2 * 0.25 * math.log(0.25)) - (q * math.log(q) + (1 - q) * math.log(1 - q)) + math.log(4))
    torch.testing.assert_close(ctrl.entropy(actions), torch.tensor([entropy, entropy]))

def test_matches_lstm_reference():
    ctrl = randomize(Controller(SIZES, hidden_size=5))
    actions = torch.tensor([[1, 2, 0, 0, 3], [0, 1, 2, 1, 1], [1, 0, 1, 0, 2]])
    logp, ent = reference(ctrl, actions)
    torch.testing.assert_close(ctrl.log_prob(actions), logp, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ctrl.entropy(actions), ent, atol=1e-5, rtol=1e-5)

def test_initial_state_is_used():
    ctrl = randomize(Controller(SIZES, hidden_size=5), seed=1)
    actions = torch.tensor([[1, 2, 0, 0, 3], [0, 1, 2, 1, 1]])
    h, c = torch.randn([2, 5]), torch.randn([2, 5])
    logp, ent = reference(ctrl, actions, h, c)
    torch.testing.assert_close(ctrl.log_prob(actions, (h, c)), logp, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ctrl.entropy(actions, (h, c)), ent, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(ctrl.log_prob(actions), logp)

def test_sample_returns_its_own_log_probs_and_is_seeded():
    ctrl = randomize(Controller(SIZES, hidden_size=5), seed=2)
    actions, logp, ent = ctrl.sample(16, generator=torch.Generator().manual_seed(3))
    assert actions.shape == (16, 5) and all((actions[:, t] < n).all() for t, n in enumerate(SIZES))
    torch.testing.assert_close(logp, ctrl.log_prob(actions))
    torch.testing.assert_close(ent, ctrl.entropy(actions))
    again = ctrl.sample(16, generator=torch.Generator().manual_seed(3))[0]
    assert torch.equal(actions, again)

def test_sample_frequencies_follow_the_distribution():
    ctrl = zero_weights_with_biases(Controller([3], hidden_size=4), [[0.0, math.log(2), math.log(5)]])
    actions = ctrl.sample(8000, generator=torch.Generator().manual_seed(0))[0][:, 0]
    freq = torch.bincount(actions, minlength=3).double() / 8000
    torch.testing.assert_close(freq, torch.tensor([1 / 8, 2 / 8, 5 / 8], dtype=torch.float64), atol=0.02, rtol=0)

def test_final_state_and_greedy():
    ctrl = randomize(Controller(SIZES, hidden_size=5), seed=4)
    actions, _logp, _ent, (h, c) = ctrl.sample(3, return_state=True)
    h2, c2 = ctrl.final_state(actions)
    torch.testing.assert_close(h, h2)
    torch.testing.assert_close(c, c2)
    greedy, probs = ctrl.greedy()
    assert [int(p.argmax()) for p in probs] == greedy[0].tolist()
    assert all(abs(float(p.sum()) - 1) < 1e-6 for p in probs)

#----------------------------------------------------------------------------
