"""One rank of test_torch_zero.py: ZeroRedundancyOptimizer over a fastopt.torch class.

    python _zero_worker.py RANK WORLD PORT OUT CASE BUCKET_VIEW

Every rank trains the same model on the same data (so no gradient all-reduce is needed),
ZeRO steps each rank's shard with fastopt and broadcasts the params; rank 0 saves the final
params and the consolidated optimizer state dict to OUT.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main(rank, world, port, out, case_name, bucket_view):
    import torch
    import torch.distributed as dist
    from torch.distributed.optim import ZeroRedundancyOptimizer

    import fastopt.torch
    from torch_util import make_data, make_model

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    try:
        model = make_model()
        opt = ZeroRedundancyOptimizer(model.parameters(),
                                      optimizer_class=getattr(fastopt.torch, case_name),
                                      parameters_as_bucket_view=bucket_view, lr=0.05)
        assert isinstance(opt.optim, getattr(fastopt.torch, case_name))
        for x, y in make_data(20):
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            opt.step()
        opt.consolidate_state_dict(to=0)
        if rank == 0:
            torch.save({"params": [p.detach().clone() for p in model.parameters()],
                        "state_dict": opt.state_dict()}, out)
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    r, w, port, out, name, bv = sys.argv[1:7]
    main(int(r), int(w), int(port), out, name, bv == "1")
