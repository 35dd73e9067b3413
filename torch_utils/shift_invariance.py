"""Parameters a loss cannot depend on because batch normalisation (Ioffe & Szegedy 2015) removes what they add."""

#----------------------------------------------------------------------------
# A conv bias, transposed-conv bias or BN shift adds a per-channel constant to its output. A BatchNorm that normalises
# with the batch's statistics subtracts the per-channel mean over (N, H, W), and InstanceNorm the one over (H, W), so
# a per-channel constant that reaches only such norms, through ops that keep it per-channel constant (sums, scalar or
# per-channel factors, copies, x2 interpolation, unpadded 1x1 convs), changes nothing after them: the exact gradient
# of the parameter is 0. What backward returns for it is rounding noise, which depends on the summation order (memory
# format, thread count), and Adam, dividing by its own running RMS, turns that noise into steps of +-lr. The parameter
# then drifts, and with it the running mean that eval-mode outputs subtract. Found on the autograd graph of the loss,
# so the search finds them for whichever ops a forward ran.

_BATCH_NORMS = ('NativeBatchNormBackward0', 'CudnnBatchNormBackward0') # inputs (input, weight, bias); both save training

def _is_training_norm_input(node, slot):
    return node.name() in _BATCH_NORMS and slot == 0 and node._saved_training

def _keeps_channel_constant(node, slot):
    """True if a per-channel constant (over N, H, W) entering `node` at input `slot` leaves it per-channel constant."""
    name = node.name()
    if name in ('AddBackward0', 'AddBackward1', 'SubBackward0', 'CloneBackward0', 'UpsampleNearest2DBackward0',
                'UpsampleBilinear2DBackward0'):
        return True
    if name == 'MulBackward0':
        factor = node._saved_other if slot == 0 else node._saved_self
        shape = [1] * (4 - factor.ndim) + list(factor.shape) if factor is not None and factor.ndim <= 4 else None
        return shape is not None and shape[0] == shape[2] == shape[3] == 1 # a scalar or per-channel factor
    if name == 'ConvolutionBackward0':
        kernel = node._saved_weight.shape[2:]
        return slot == 0 and not node._saved_transposed and all(k == 1 for k in kernel) and \
            not any(node._saved_padding)
    return False

def _is_instance_norm_view(node, consumers):
    """InstanceNorm runs BatchNorm on x.view(1, N * C, H, W): a per-channel constant of x is one per channel there."""
    if node.name() != 'ViewBackward0' or len(node._saved_self_sym_sizes) != 4:
        return False
    n, c, h, w = node._saved_self_sym_sizes
    return all(_is_training_norm_input(user, slot) and list(user._saved_input.shape) == [1, n * c, h, w]
               for user, slot in consumers)

def _graph(root):
    """{node: [(consumer, input slot)]} of every node the loss's backward reaches, consumers listed before producers."""
    consumers = {root: []}
    stack = [root]
    while stack:
        node = stack.pop()
        for child, _ in node.next_functions:
            if child is not None and child not in consumers:
                consumers[child] = []
                stack.append(child)
    for node in consumers:
        for slot, (child, _) in enumerate(node.next_functions):
            if child is not None:
                consumers[child].append((node, slot))
    order, pending = [], {node: len(users) for node, users in consumers.items()}
    ready = [root]
    while ready: # Kahn's order: a node comes once all its consumers have
        node = ready.pop()
        order.append(node)
        for child, _ in node.next_functions:
            if child is not None:
                pending[child] -= 1
                if pending[child] == 0:
                    ready.append(child)
    return {node: consumers[node] for node in order}

def normalised_away(loss, params):
    """The parameters among `params` whose every use by `loss`'s graph adds a per-channel constant that only
    training-mode BatchNorm or InstanceNorm layers see: their exact gradient is 0. Call before loss.backward()."""
    if loss.grad_fn is None:
        return []
    graph = _graph(loss.grad_fn)
    absorbed = dict() # node -> does its output reach the loss only through normalisation of per-channel constants?
    for node, users in graph.items():
        absorbed[node] = len(users) > 0 and all(_is_training_norm_input(user, slot) or (absorbed[user] and (
            _keeps_channel_constant(user, slot) or _is_instance_norm_view(user, graph[user]))) for user, slot in users)
    shifts = {name: 2 for name in ('ConvolutionBackward0',) + _BATCH_NORMS} # node -> input slot of its bias
    found = []
    leaves = {id(node.variable): users for node, users in graph.items() if node.name().endswith('AccumulateGrad')}
    for p in params:
        users = leaves.get(id(p), [])
        if users and all(shifts.get(user.name()) == slot and absorbed[user] for user, slot in users):
            found.append(p)
    return found

#----------------------------------------------------------------------------
