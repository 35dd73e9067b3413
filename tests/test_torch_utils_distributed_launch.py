"""torch_utils.distributed.launch: one process runs in place and lets a UserError through; under spawn a UserError
becomes one 'Error: ...' line per reporting process and exit code 2, never a traceback."""

import pytest

from dnnlib.util import UserError
from torch_utils import distributed

#----------------------------------------------------------------------------

def _refuse(rank, refusing_ranks):
    if rank in refusing_ranks:
        raise UserError(f'rank {rank} refuses')

def test_one_process_runs_in_place_and_raises():
    with pytest.raises(UserError, match='rank 0 refuses'):
        distributed.launch(_refuse, 1, (0,))

@pytest.mark.parametrize('refusing_ranks, error_rank, lines', [
    ((1,), None, ['Error: rank 1 refuses']),                        # the process that hits it says why
    ((0, 1), 0, ['Error: rank 0 refuses']),                         # all stop alike: rank 0 alone says why
])
def test_spawned_user_error_is_one_line_and_exit_2(capfd, refusing_ranks, error_rank, lines):
    with pytest.raises(SystemExit) as exc:
        distributed.launch(_refuse, 2, refusing_ranks, error_rank=error_rank)
    assert exc.value.code == 2
    err = capfd.readouterr().err
    assert [line for line in err.splitlines() if line.startswith('Error:')] == lines
    assert 'Traceback' not in err
