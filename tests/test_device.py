"""The CPU device API (issue 12), telling the truth: minidl.device("cpu") is the one device,
Tensor.to(device)/.cpu() and Module.to(device)/.cpu() change nothing, minidl.cuda and
minidl.backends.mps report no accelerator, and asking for one ("cuda", .cuda(), device("mps"))
raises an error saying minidl runs on the CPU only. Before, none of this existed except
Tensor.to("cpu"): `minidl.device`, `minidl.cuda`, `x.device` and `Module.to` were
AttributeErrors, and `x.to(device, dtype)` a TypeError."""
import pickle

import numpy as np
import pytest

import minidl
import minidl as torch
import minidl.nn.functional as F
from minidl import nn, optim

CPU_ONLY = "minidl runs on the CPU only"


def test_the_device_idiom_runs_unchanged_and_trains():
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    assert model.to(device) is model
    optimizer = optim.SGD(model.parameters(), lr=0.5)
    inputs = torch.randn(32, 4).to(device)
    labels = torch.randint(0, 3, (32,)).to(device)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(inputs), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]  # the model did train on the device it was moved to
    assert all(p.device == device for p in model.parameters())


def test_device_objects():
    cpu = torch.device("cpu")
    assert cpu.type == "cpu" and cpu.index is None
    assert str(cpu) == "cpu" and repr(cpu) == "device(type='cpu')"
    assert torch.device("cpu:0").index == 0 and str(torch.device("cpu", 0)) == "cpu:0"
    assert torch.device(type="cpu") == cpu == torch.device(cpu)
    assert torch.device("cpu:0") != cpu  # PyTorch's rule: the index is part of the device
    assert len({cpu, torch.device("cpu")}) == 1
    assert pickle.loads(pickle.dumps(cpu)) == cpu
    assert torch.zeros(2).device == cpu and torch.zeros(2).device.type == "cpu"
    assert not torch.zeros(2).is_cuda
    with pytest.raises(AttributeError):
        cpu.type = "cuda"


@pytest.mark.parametrize("name", ["cuda", "cuda:0", "mps", "meta", "xpu"])
def test_an_accelerator_device_is_refused_with_the_reason(name):
    with pytest.raises(RuntimeError, match=f"device\\('{name}'\\): {CPU_ONLY}"):
        torch.device(name)


@pytest.mark.parametrize("bad, error, message", [
    ("gpu", ValueError, "device: expected 'cpu'"), ("cpu:x", ValueError, "'cpu:<index>'"),
    ("cpu:1", ValueError, "the CPU is device 0"), (3.0, TypeError, "expected a device string"),
    (0, RuntimeError, r"device\(0\): minidl runs on the CPU only"),
    ("", ValueError, "expected 'cpu'")])
def test_malformed_devices_are_value_or_type_errors(bad, error, message):
    with pytest.raises(error, match=message):
        torch.device(bad)
    with pytest.raises(ValueError, match="give the index in one place"):
        torch.device("cpu:0", 0)


def test_tensor_to_device_and_dtype_in_pytorchs_forms():
    x = torch.ones(2, 3, requires_grad=True)
    cpu = torch.device("cpu")
    assert x.to("cpu") is x and x.to(cpu) is x and x.cpu() is x and x.to("cpu:0") is x
    assert x.to(device=cpu) is x and x.to(cpu, non_blocking=True) is x
    assert x.to(cpu, torch.float64).dtype == np.float64
    assert x.to("cpu", dtype=torch.float64).dtype == np.float64
    assert x.to(device="cpu", dtype=torch.float64).dtype == np.float64
    assert x.to(torch.zeros(1, dtype=torch.float64)).dtype == np.float64  # to(other)
    assert x.to(torch.float32) is x  # nothing to change: the same tensor, as PyTorch
    copied = x.to(cpu, copy=True)
    assert copied is not x and not np.shares_memory(copied.data, x.data)
    copied.sum().backward()  # the copy stays in the graph
    np.testing.assert_array_equal(x.grad.data, 1.0)
    assert x.to(torch.float32, False, True) is not x  # to(dtype, non_blocking, copy)


def test_tensor_to_refuses_malformed_arguments():
    x = torch.ones(2)
    with pytest.raises(TypeError, match="to: expected to\\(dtype\\), to\\(device\\)"):
        x.to(torch.float32, torch.float64)
    with pytest.raises(TypeError, match="to: expected to\\(dtype\\)"):
        x.to(torch.device("cpu"), "cpu")
    with pytest.raises(TypeError, match=r"to: unexpected keyword argument\(s\) \['memory'\]"):
        x.to(memory=1)
    with pytest.raises(TypeError, match="to: expected copy to be True or False"):
        x.to("cpu", copy=1)
    with pytest.raises(TypeError, match="to: expected a dtype .* got 'banana'"):
        x.to("banana")


@pytest.mark.parametrize("request_device", [
    lambda x: x.to("cuda"), lambda x: x.to("cuda:0"), lambda x: x.to("mps"),
    lambda x: x.to(0), lambda x: x.cuda(), lambda x: x.to(device="cuda"),
    lambda x: x.to("cuda", torch.float64)])
def test_tensor_to_an_accelerator_says_minidl_runs_on_the_cpu(request_device):
    with pytest.raises(RuntimeError, match=CPU_ONLY):
        request_device(torch.ones(2))


def test_module_to_device_changes_nothing_and_keeps_the_arrays():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    arrays = [t.data for t in list(model.parameters()) + list(model.buffers())]
    assert model.to("cpu") is model and model.to(torch.device("cpu")) is model
    assert model.cpu() is model and model.to(device="cpu", non_blocking=True) is model
    assert all(t.data is a for t, a in
               zip(list(model.parameters()) + list(model.buffers()), arrays))


def test_module_to_dtype_casts_floating_parameters_and_buffers_only():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    assert model.to(torch.float64) is model
    batchnorm = model[1]
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert batchnorm.running_mean.dtype == np.float64
    assert batchnorm.num_batches_tracked.dtype == np.int64  # integer buffers stay as they are
    model.to("cpu", torch.float32)
    assert all(p.dtype == np.float32 for p in model.parameters())
    model.to(torch.zeros(1, dtype=torch.float64))  # to(tensor): its dtype
    assert model[0].weight.dtype == np.float64
    model.to(dtype=torch.float32)
    assert model(torch.randn(5, 3)).dtype == np.float32


def test_module_to_its_own_dtype_keeps_every_array():
    """Before, model.to(float32) (and .float()) of a float32 model replaced every parameter's
    array by a copy, so arrays shared with it (state_dict(), from_numpy) lost the model."""
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    model(torch.randn(5, 3)).sum().backward()
    tensors = list(model.parameters()) + list(model.buffers())
    arrays = [t.data for t in tensors]
    grads = [p.grad.data for p in model.parameters()]
    model.to(torch.float32).float()
    assert all(t.data is a for t, a in zip(tensors, arrays))
    assert all(p.grad.data is g for p, g in zip(model.parameters(), grads))


def test_module_to_refuses_non_float_dtypes_and_accelerators():
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="Module.to: expected a floating point dtype .* got "
                                        "int64"):
        model.to(torch.long)
    with pytest.raises(TypeError, match="Module.to: expected a dtype .* got int32"):
        model.to(torch.int32)
    for request in (lambda: model.to("cuda"), model.cuda, lambda: model.to(torch.device("cpu"),
                                                                           "cuda")):
        with pytest.raises((RuntimeError, TypeError), match=f"{CPU_ONLY}|Module.to: expected"):
            request()
    with pytest.raises(RuntimeError, match=f"Module.cuda\\(\\): {CPU_ONLY}"):
        model.cuda()
    assert model.weight.dtype == np.float32  # nothing changed


def test_cuda_and_mps_report_no_accelerator():
    assert minidl.cuda.is_available() is False
    assert minidl.cuda.device_count() == 0
    assert minidl.backends.mps.is_available() is False
    assert minidl.backends.mps.is_built() is False
    torch.cuda.manual_seed(0)  # accepted and does nothing, as PyTorch without CUDA
    torch.cuda.manual_seed_all(0)


def test_the_accelerator_idiom_of_current_tutorials_picks_the_cpu():
    device = (torch.accelerator.current_accelerator().type
              if torch.accelerator.is_available() else "cpu")
    assert device == "cpu" and torch.accelerator.device_count() == 0
    assert torch.accelerator.current_accelerator() is None
    model = nn.Linear(2, 2).to(device)
    assert model(torch.ones(1, 2).to(device)).device == torch.device(device)


def test_cudnn_reports_unavailable_and_takes_the_reproducibility_flags():
    assert torch.backends.cudnn.is_available() is False
    torch.backends.cudnn.deterministic = True  # the reproducibility recipe runs unchanged
    torch.backends.cudnn.benchmark = False
    assert torch.backends.cudnn.deterministic is True


def test_backends_does_not_shadow_the_kernel_switch():
    import minidl.backend
    assert minidl.backend.current_kernels in (minidl.current_kernels,)
    assert minidl.backends is not minidl.backend
    with minidl.use_kernels("numpy"):
        assert minidl.current_kernels() == "numpy"
