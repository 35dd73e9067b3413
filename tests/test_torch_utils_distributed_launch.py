"""torch_utils.distributed.launch: one process runs in place and lets a UserError through; spawned processes run in
one process group and end without the interpreter's teardown; under spawn a UserError becomes one 'Error: ...' line per reporting
process and exit code 2, never a traceback."""

import atexit
import os
import time

import pytest
import torch

from dnnlib.util import UserError
from torch_utils import distributed

#----------------------------------------------------------------------------

def _refuse(rank, refusing_ranks, slow_rank=None):
    if rank == slow_rank:
        time.sleep(1)
    if rank in refusing_ranks:
        raise UserError(f'rank {rank} refuses')

def test_one_process_runs_in_place_and_raises():
    with pytest.raises(UserError, match='rank 0 refuses'):
        distributed.launch(_refuse, 1, (0,))

@pytest.mark.parametrize('refusing_ranks, error_rank, lines', [
    ((1,), None, ['Error: rank 1 refuses']),                        # the process that hits it says why
    ((0, 1), 0, ['Error: rank 0 refuses']),                         # all stop alike: rank 0 alone says why, also
])                                                                  # when it gets there last (not stopped first)
def test_spawned_user_error_is_one_line_and_exit_2(capfd, refusing_ranks, error_rank, lines):
    with pytest.raises(SystemExit) as exc:
        distributed.launch(_refuse, 2, refusing_ranks, error_rank, error_rank=error_rank)
    assert exc.value.code == 2
    err = capfd.readouterr().err
    assert [line for line in err.splitlines() if line.startswith('Error:')] == lines
    assert 'Traceback' not in err

def _record_group(rank, out_dir):
    with open(os.path.join(out_dir, f'during-{rank}'), 'w') as f:
        f.write(f'{torch.distributed.is_initialized()} {torch.distributed.get_world_size()}')
    def record_teardown():
        with open(os.path.join(out_dir, f'teardown-{rank}'), 'w') as f:
            f.write('ran')
    atexit.register(record_teardown)

def test_spawned_processes_share_a_group_and_skip_the_teardown(tmp_path):
    distributed.launch(_record_group, 2, str(tmp_path), device='cpu')
    for rank in range(2):
        assert (tmp_path / f'during-{rank}').read_text() == 'True 2'
        # torch.distributed's C++ objects can abort the interpreter's teardown (SIGABRT, exit code lost): none is run.
        assert not (tmp_path / f'teardown-{rank}').exists()
