"""minidl.data: the bundled MNIST subset, IDX/CIFAR readers, downloads (no network), the
DataLoader and the transforms."""
import gzip
import hashlib
import io
import os
import pathlib
import pickle
import re
import struct
import tarfile
import urllib.error

import numpy as np
import pytest

import minidl
from minidl.data import (CIFAR10, MNIST, ArrayDataset, DataLoader, FashionMNIST, read_idx,
                         transforms)
from minidl.data import download as download_module
from minidl.data.cifar import extract_tar
from minidl.data.mnist import BUNDLED

# ----- helpers ---------------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """An uncompressed IDX file of unsigned bytes holding `array`."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(path: pathlib.Path, array: np.ndarray) -> bytes:
    """Write `array` as a gzip IDX file; returns the file's bytes."""
    data = gzip.compress(idx_bytes(array), mtime=0)
    path.write_bytes(data)
    return data


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def small_mnist(seed=0, count=6):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (count, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, count).astype(np.uint8))


def mnist_files(count=6) -> dict[str, bytes]:
    """The four gzip IDX files of a tiny MNIST-format data set, by official file name."""
    train_images, train_labels = small_mnist(0, count)
    test_images, test_labels = small_mnist(1, count // 2)
    arrays = {"train-images-idx3-ubyte.gz": train_images,
              "train-labels-idx1-ubyte.gz": train_labels,
              "t10k-images-idx3-ubyte.gz": test_images,
              "t10k-labels-idx1-ubyte.gz": test_labels}
    return {name: gzip.compress(idx_bytes(array), mtime=0) for name, array in arrays.items()}


class Response(io.BytesIO):
    """What urlopen returns, as far as the downloader uses it: read(), headers, a context."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}


def serve(monkeypatch, files: dict[str, bytes], fail_first_mirror=False):
    """Replace the network: open_url serves `files` by the URL's last path segment."""
    requested = []

    def open_url(url):
        requested.append(url)
        if fail_first_mirror and len(requested) == 1:
            raise urllib.error.URLError("first mirror down")
        return Response(files[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(download_module, "open_url", open_url)
    return requested


def offline(monkeypatch):
    def open_url(url):
        raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(download_module, "open_url", open_url)


def cifar_arrays(count, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (count, 3, 32, 32), dtype=np.uint8),
            rng.integers(0, 10, count).astype(np.int64))


def cifar_binary_batch(images, labels) -> bytes:
    records = np.concatenate([labels.astype(np.uint8)[:, None], images.reshape(len(images), -1)],
                             axis=1)
    return records.tobytes()


def python2_pickle(data: np.ndarray, labels) -> bytes:
    """A CIFAR-10 python batch as Python 2's cPickle wrote it: str objects are 8-bit strings
    (SHORT_BINSTRING/BINSTRING), the array is rebuilt by numpy.core.multiarray._reconstruct."""
    def string(raw: bytes) -> bytes:
        if len(raw) < 256:
            return b"U" + bytes([len(raw)]) + raw
        return b"T" + struct.pack("<i", len(raw)) + raw

    def integer(value: int) -> bytes:
        return b"J" + struct.pack("<i", value)

    dtype = (b"cnumpy\ndtype\n" + b"(" + string(b"u1") + integer(0) + integer(1) + b"tR"
             + b"(" + integer(3) + string(b"|") + b"NNN" + integer(-1) + integer(-1)
             + integer(0) + b"tb")
    array = (b"cnumpy.core.multiarray\n_reconstruct\n" + b"(cnumpy\nndarray\n"
             + b"(" + integer(0) + b"t" + string(b"b") + b"tR"
             + b"(" + integer(1) + b"(" + integer(data.shape[0]) + integer(data.shape[1]) + b"t"
             + dtype + b"\x89" + string(data.tobytes()) + b"tb")
    label_list = b"](" + b"".join(integer(int(label)) for label in labels) + b"e"
    return (b"\x80\x02}(" + string(b"batch_label") + string(b"testing batch 1 of 1")
            + string(b"labels") + label_list + string(b"data") + array + b"u.")


def python3_pickle(data: np.ndarray, labels) -> bytes:
    return pickle.dumps({b"batch_label": b"training batch", b"labels": [int(v) for v in labels],
                         b"data": data}, protocol=4)


def write_cifar(root: pathlib.Path, version: str, train_count=2, test_count=3, writer=None):
    """Write a tiny CIFAR-10 in the binary ("bin") or python ("py") layout; returns the arrays."""
    directory = root / f"cifar-10-batches-{version}"
    directory.mkdir(parents=True)
    arrays = {}
    stems = [f"data_batch_{n}" for n in range(1, 6)] + ["test_batch"]
    for number, stem in enumerate(stems):
        images, labels = cifar_arrays(test_count if stem == "test_batch" else train_count, number)
        arrays[stem] = images, labels
        if version == "bin":
            (directory / f"{stem}.bin").write_bytes(cifar_binary_batch(images, labels))
        else:
            (directory / stem).write_bytes((writer or python3_pickle)(
                images.reshape(len(images), -1), labels))
    return arrays


class Evil:
    """Unpickling this would run a shell command creating `marker`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


# ----- the bundled MNIST subset --------------------------------------------------------------


def test_bundled_mnist_train_is_the_5000_image_sample_sorted_by_class():
    train = MNIST()
    assert len(train) == 5000 and train.train
    assert train.data.shape == (5000, 28, 28) and train.data.dtype == np.uint8
    assert train.targets.shape == (5000,) and train.targets.dtype == np.int64
    assert np.all(np.diff(train.targets) >= 0)  # sorted by class
    assert np.bincount(train.targets).tolist() == [500] * 10
    image, label = train[4999]
    assert image.shape == (1, 28, 28) and image.dtype == np.uint8 and type(label) is int
    assert label == 9 and np.array_equal(image[0], train.data[4999])
    image[...] = 0  # items are copies
    assert train.data[4999].any()
    assert train[-1][1] == 9


def test_bundled_mnist_test_is_the_official_10000_images():
    test = MNIST(train=False)
    assert len(test) == 10000 and test.data.shape == (10000, 28, 28)
    assert test.targets.min() == 0 and test.targets.max() == 9
    assert test.targets[:5].tolist() == [7, 2, 1, 0, 4]  # the first official test labels


def test_bundled_files_match_the_md5_sums_and_license_in_their_readme():
    note = (BUNDLED / "README.md").read_text()
    sums = dict(re.findall(r"\| (\S+\.gz) \|.*\| ([0-9a-f]{32}) \|", note))
    assert sorted(sums) == sorted(path.name for path in BUNDLED.glob("*.gz"))
    assert len(sums) == 4
    for name, expected in sums.items():
        assert md5((BUNDLED / name).read_bytes()) == expected, name
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert sums[name] == MNIST.md5s[name]  # the official files, unchanged
    assert "Creative Commons" in note and "CC BY-SA 3.0" in note and "LeCun" in note


def test_mnist_docstring_explains_the_subset_and_the_full_set():
    doc = " ".join(MNIST.__doc__.split())
    assert "15,000-image subset" in doc and "download=True" in doc
    assert "train-images-idx3-ubyte.gz" in doc


def test_index_and_argument_errors():
    train = MNIST()
    with pytest.raises(IndexError, match="5000"):
        train[5000]
    with pytest.raises(TypeError, match="integer"):
        train[1.0]
    with pytest.raises(TypeError, match="train must be True or False"):
        MNIST(train="yes")
    with pytest.raises(ValueError, match="needs a root"):
        MNIST(download=True)
    with pytest.raises(TypeError, match="transform must be callable"):
        MNIST(transform="ToFloat")
    with pytest.raises(ValueError, match="root is required"):
        FashionMNIST()
    with pytest.raises(ValueError, match="root is required"):
        CIFAR10(None)


# ----- IDX files and MNIST-format directories ---------------------------------------------------


def test_read_idx_refuses_corrupted_files(tmp_path):
    good = idx_bytes(np.zeros((2, 3), np.uint8))
    cases = {
        "magic.gz": gzip.compress(b"\x00\x00\x0d\x02" + good[4:]),       # float, not unsigned bytes
        "truncated.gz": gzip.compress(good[:-1]),
        "header.gz": gzip.compress(good[:6]),
        "empty.gz": gzip.compress(b""),
        "cut-gzip.gz": gzip.compress(good)[:-6],
        "not-gzip.gz": b"this is not gzip",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=re.escape(str(tmp_path / name))):
            read_idx(tmp_path / name)
    (tmp_path / "plain").write_bytes(good)
    assert read_idx(tmp_path / "plain").shape == (2, 3)


def test_fashion_mnist_reads_idx_files_from_root(tmp_path):
    files = mnist_files()
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    train = FashionMNIST(tmp_path, transform=transforms.ToFloat())
    images, labels = small_mnist(0)
    assert np.array_equal(train.data, images) and np.array_equal(train.targets, labels)
    image, label = train[2]
    assert image.dtype == np.float32 and image.shape == (1, 28, 28)
    np.testing.assert_allclose(image[0], images[2] / 255.0, rtol=1e-6)
    assert label == labels[2] and FashionMNIST.classes[9] == "Ankle boot"
    test = FashionMNIST(str(tmp_path), train=False)
    assert len(test) == 3 and np.array_equal(test.data, small_mnist(1, 3)[0])


def test_mnist_directory_errors_name_the_files(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        MNIST(tmp_path)
    assert str(tmp_path / "train-images-idx3-ubyte.gz") in str(error.value)
    assert str(tmp_path / "train-labels-idx1-ubyte.gz") in str(error.value)
    images, labels = small_mnist()
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images[:, :27])
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        MNIST(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels[:-1])
    with pytest.raises(ValueError, match="one per image"):
        MNIST(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.full(len(images), 10))
    with pytest.raises(ValueError, match="labels must be 0..9"):
        MNIST(tmp_path)


# ----- downloads (the network is replaced) -------------------------------------------------------


def test_download_fetches_the_missing_files_checks_md5_and_reports_progress(
        tmp_path, monkeypatch, capsys):
    files = mnist_files()
    monkeypatch.setattr(FashionMNIST, "md5s", {name: md5(data) for name, data in files.items()})
    requested = serve(monkeypatch, files, fail_first_mirror=True)
    monkeypatch.setattr(FashionMNIST, "mirrors", ("https://down.example/", "https://up.example/"))
    root = tmp_path / "new" / "fashion"
    train = FashionMNIST(root, download=True)
    assert np.array_equal(train.data, small_mnist(0)[0])
    assert requested == ["https://down.example/train-images-idx3-ubyte.gz",
                         "https://up.example/train-images-idx3-ubyte.gz",
                         "https://down.example/train-labels-idx1-ubyte.gz"]
    assert sorted(os.listdir(root)) == ["train-images-idx3-ubyte.gz",  # no temporary files left
                                        "train-labels-idx1-ubyte.gz"]
    assert (root / "train-images-idx3-ubyte.gz").read_bytes() == files[
        "train-images-idx3-ubyte.gz"]
    if download_module._progress_bar(1, "x").__class__.__name__ == "_PercentLine":
        assert "train-images-idx3-ubyte.gz: 100%" in capsys.readouterr().err
    requested.clear()
    FashionMNIST(root, download=True)  # present: nothing fetched
    assert requested == []


def test_download_through_real_urllib_from_a_file_url(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    files = mnist_files()
    for name, data in files.items():
        (mirror / name).write_bytes(data)
    monkeypatch.setattr(MNIST, "md5s", {name: md5(data) for name, data in files.items()})
    monkeypatch.setattr(MNIST, "mirrors", (mirror.as_uri() + "/",))
    test = MNIST(tmp_path / "mnist", train=False, download=True)
    assert np.array_equal(test.targets, small_mnist(1, 3)[1])
    assert sorted(os.listdir(tmp_path / "mnist")) == ["t10k-images-idx3-ubyte.gz",
                                                      "t10k-labels-idx1-ubyte.gz"]


def test_download_with_a_wrong_md5_deletes_it_and_names_file_and_sums(tmp_path, monkeypatch):
    files = mnist_files()
    serve(monkeypatch, {**files, "train-images-idx3-ubyte.gz": b"tampered"})
    with pytest.raises(ValueError) as error:
        MNIST(tmp_path, download=True)
    message = str(error.value)
    assert "train-images-idx3-ubyte.gz" in message
    assert MNIST.md5s["train-images-idx3-ubyte.gz"] in message and md5(b"tampered") in message
    assert os.listdir(tmp_path) == []  # neither the file nor a temporary file remains


def test_download_without_network_raises_one_line_naming_files_and_root(tmp_path, monkeypatch):
    offline(monkeypatch)
    root = tmp_path / "mnist"
    with pytest.raises(RuntimeError) as error:
        MNIST(root, download=True)
    message = str(error.value)
    assert "\n" not in message
    assert "train-images-idx3-ubyte.gz" in message and "train-labels-idx1-ubyte.gz" in message
    assert str(root) in message and "Temporary failure in name resolution" in message
    assert error.value.__context__ is None  # one error, not a chain
    assert os.listdir(root) == []


def test_tqdm_is_optional(monkeypatch, capsys):
    import builtins
    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name == "tqdm":
            raise ImportError("no tqdm")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    bar = download_module._progress_bar(200, "file.gz")
    bar.update(100)
    bar.update(100)
    bar.close()
    assert capsys.readouterr().err.splitlines()[-1].endswith("file.gz: 100% (200 B of 200 B)")


# ----- CIFAR-10 ------------------------------------------------------------------------------


def test_cifar10_binary_version(tmp_path):
    arrays = write_cifar(tmp_path, "bin")
    train = CIFAR10(tmp_path)
    assert len(train) == 10 and train.data.shape == (10, 3, 32, 32)
    assert train.data.dtype == np.uint8 and train.targets.dtype == np.int64
    assert np.array_equal(train.data[2:4], arrays["data_batch_2"][0])
    assert np.array_equal(train.targets[8:], arrays["data_batch_5"][1])
    test = CIFAR10(tmp_path, train=False)
    image, label = test[1]
    assert image.shape == (3, 32, 32) and image.dtype == np.uint8
    assert np.array_equal(image, arrays["test_batch"][0][1]) and label == arrays["test_batch"][1][1]


@pytest.mark.parametrize("writer", [python3_pickle, python2_pickle])
def test_cifar10_python_version(tmp_path, writer):
    arrays = write_cifar(tmp_path, "py", writer=writer)
    test = CIFAR10(tmp_path, train=False)
    assert np.array_equal(test.data, arrays["test_batch"][0])
    assert np.array_equal(test.targets, arrays["test_batch"][1])
    assert len(CIFAR10(tmp_path)) == 10


def test_cifar10_refuses_a_malicious_pickle_without_running_it(tmp_path):
    write_cifar(tmp_path, "py")
    marker = tmp_path / "pwned"
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(
        pickle.dumps({b"data": Evil(marker), b"labels": []}, protocol=4))
    with pytest.raises(ValueError, match=r"system.*refused"):
        CIFAR10(tmp_path, train=False)
    assert not marker.exists()
    for payload in (pickle.dumps(eval, protocol=4),  # builtins.eval
                    b"cos\nsystem\n(Vtouch " + str(marker).encode() + b"\ntR."):
        (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(payload)
        with pytest.raises(ValueError, match="refused"):
            CIFAR10(tmp_path, train=False)
    assert not marker.exists()


def test_cifar10_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        CIFAR10(tmp_path)
    assert str(tmp_path / "cifar-10-batches-py" / "data_batch_1") in str(error.value)
    write_cifar(tmp_path, "bin")
    batch = tmp_path / "cifar-10-batches-bin" / "test_batch.bin"
    batch.write_bytes(batch.read_bytes()[:-1])
    with pytest.raises(ValueError, match="records of 3073 bytes"):
        CIFAR10(tmp_path, train=False)
    images, _ = cifar_arrays(1)
    batch.write_bytes(cifar_binary_batch(images, np.array([10])))
    with pytest.raises(ValueError, match="labels must be 0..9"):
        CIFAR10(tmp_path, train=False)
    (tmp_path / "py").mkdir()
    bad = tmp_path / "py" / "cifar-10-batches-py"
    write_cifar(tmp_path / "py", "py")
    (bad / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.float32),
                                                   b"labels": [0, 1]}, protocol=4))
    with pytest.raises(ValueError, match=r"uint8 \(N, 3072\)"):
        CIFAR10(tmp_path / "py", train=False)
    (bad / "test_batch").write_bytes(b"\x80\x04garbage")
    with pytest.raises(ValueError, match="cannot read"):
        CIFAR10(tmp_path / "py", train=False)


def test_cifar10_download_offline_message(tmp_path, monkeypatch):
    offline(monkeypatch)
    with pytest.raises(RuntimeError) as error:
        CIFAR10(tmp_path / "cifar", download=True)
    message = str(error.value)
    assert "\n" not in message and "cifar-10-python.tar.gz" in message
    assert str(tmp_path / "cifar") in message


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_cifar10_download_verifies_and_extracts_the_archive(tmp_path, monkeypatch):
    source = tmp_path / "source"
    arrays = write_cifar(source, "py")
    archive = tar_gz({f"cifar-10-batches-py/{path.name}": path.read_bytes()
                      for path in sorted((source / "cifar-10-batches-py").iterdir())})
    monkeypatch.setattr(CIFAR10, "archive_md5", md5(archive))
    serve(monkeypatch, {"cifar-10-python.tar.gz": archive})
    test = CIFAR10(tmp_path / "cifar", train=False, download=True)
    assert np.array_equal(test.data, arrays["test_batch"][0])
    monkeypatch.setattr(CIFAR10, "archive_md5", "0" * 32)
    with pytest.raises(ValueError, match="0" * 32):
        CIFAR10(tmp_path / "other", download=True)
    assert not (tmp_path / "other" / "cifar-10-python.tar.gz").exists()


def test_extract_tar_refuses_unsafe_members(tmp_path):
    for name in ("../evil.txt", "/tmp/evil.txt", "cifar-10-batches-py/../../evil.txt"):
        archive = tmp_path / "bad.tar.gz"
        archive.write_bytes(tar_gz({"cifar-10-batches-py/ok": b"ok", name: b"evil"}))
        with pytest.raises(ValueError, match="refusing to extract"):
            extract_tar(archive, tmp_path / "out")
        assert not (tmp_path / "out").exists()  # refused before writing anything
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        link = tarfile.TarInfo("cifar-10-batches-py/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    (tmp_path / "link.tar.gz").write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match="not a regular file"):
        extract_tar(tmp_path / "link.tar.gz", tmp_path / "out")


# ----- DataLoader -----------------------------------------------------------------------------


def float_dataset(count=10):
    images = np.arange(count * 4, dtype=np.float32).reshape(count, 1, 2, 2)
    return ArrayDataset(images, np.arange(count))


class ItemDataset:
    """A data set with only __len__ and __getitem__ (the DataLoader's per-item path)."""

    def __init__(self, arrays: ArrayDataset):
        self.arrays = arrays

    def __len__(self):
        return len(self.arrays)

    def __getitem__(self, index):
        return self.arrays[index]


def labels_of(loader):
    return [labels.tolist() for _, labels in loader]


def test_dataloader_batches_in_order():
    loader = DataLoader(float_dataset(), batch_size=4)
    assert len(loader) == 3
    batches = list(loader)
    assert [images.data.shape for images, _ in batches] == [(4, 1, 2, 2), (4, 1, 2, 2),
                                                            (2, 1, 2, 2)]
    images, labels = batches[0]
    assert isinstance(images, minidl.Tensor) and images.data.dtype == np.float32
    assert not images.requires_grad
    assert isinstance(labels, minidl.Tensor) and labels.dtype == np.int64  # as PyTorch's
    assert labels_of(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert np.array_equal(batches[2][0].data, float_dataset().data[8:])
    dropped = DataLoader(float_dataset(), batch_size=4, drop_last=True)
    assert len(dropped) == 2 and labels_of(dropped) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(DataLoader(float_dataset(), batch_size=5, drop_last=True)) == 2
    assert len(DataLoader(float_dataset(), batch_size=20, drop_last=True)) == 0
    assert labels_of(DataLoader(float_dataset(), batch_size=20)) == [list(range(10))]


def test_dataloader_shuffle_is_seeded_and_new_each_epoch():
    first = DataLoader(float_dataset(50), batch_size=8, shuffle=True, seed=3)
    second = DataLoader(float_dataset(50), batch_size=8, shuffle=True, seed=3)
    epochs = [sum(labels_of(first), []) for _ in range(3)]
    assert epochs == [sum(labels_of(second), []) for _ in range(3)]  # same seed, same orders
    assert all(sorted(order) == list(range(50)) for order in epochs)
    assert epochs[0] != epochs[1] != epochs[2]  # a new permutation each epoch
    assert epochs[0] != list(range(50))
    other = DataLoader(float_dataset(50), batch_size=8, shuffle=True, seed=4)
    assert sum(labels_of(other), []) != epochs[0]
    # without a seed, minidl.manual_seed makes the order reproducible
    orders = []
    for _ in range(2):
        minidl.manual_seed(11)
        orders.append(sum(labels_of(DataLoader(float_dataset(50), 8, shuffle=True)), []))
    assert orders[0] == orders[1]


def test_dataloader_images_and_labels_match_the_items():
    minidl.manual_seed(0)
    dataset = MNIST(train=False, transform=transforms.Compose(
        [transforms.ToFloat(), transforms.Normalize((0.1307,), (0.3081,))]))
    loader = DataLoader(dataset, batch_size=32, shuffle=True, seed=1)
    images, labels = next(iter(loader))
    order = np.random.default_rng(1).permutation(len(dataset))[:32]
    expected = np.stack([dataset[int(i)][0] for i in order])
    np.testing.assert_array_equal(images.data, expected)
    assert labels.tolist() == dataset.targets[order].tolist()
    # the per-item path of a plain data set gives the same batches
    item_loader = DataLoader(ItemDataset(dataset), batch_size=32, shuffle=True, seed=1)
    item_images, item_labels = next(iter(item_loader))
    np.testing.assert_array_equal(item_images.data, images.data)
    assert item_labels.dtype == np.int64 and item_labels.tolist() == labels.tolist()


def test_a_transform_without_batch_support_runs_per_item():
    def to_float(image):
        return image.astype(np.float32) / 255

    dataset = MNIST(train=False, transform=to_float)
    assert not transforms.Compose([transforms.ToFloat(), to_float]).supports_batch
    images, labels = dataset.get_batch(np.array([3, 1]))
    np.testing.assert_array_equal(images, np.stack([dataset[3][0], dataset[1][0]]))
    assert labels.tolist() == [dataset[3][1], dataset[1][1]]


def test_a_subclass_overriding_getitem_is_honoured_by_the_loader():
    class Even(ArrayDataset):
        def __getitem__(self, index):
            image, label = super().__getitem__(index)
            return image, label % 2

    images, labels = next(iter(DataLoader(Even(float_dataset().data, np.arange(10)), 4)))
    assert labels.tolist() == [0, 1, 0, 1] and images.data.shape == (4, 1, 2, 2)


def test_dataloader_refuses_uint8_images_and_bad_arguments():
    with pytest.raises(TypeError, match="ToFloat"):
        next(iter(DataLoader(MNIST(train=False), batch_size=4)))
    with pytest.raises(TypeError, match="float32"):
        next(iter(DataLoader(MNIST(train=False, transform=lambda x: x / 255.0), batch_size=4)))
    for batch_size in (0, -1, 2.5, True, "8"):
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            DataLoader(float_dataset(), batch_size=batch_size)
    with pytest.raises(TypeError, match="shuffle must be True or False"):
        DataLoader(float_dataset(), shuffle="yes")
    with pytest.raises(TypeError, match="drop_last"):
        DataLoader(float_dataset(), drop_last=1)
    with pytest.raises(ValueError, match="seed"):
        DataLoader(float_dataset(), seed=-1)
    with pytest.raises(TypeError, match="__len__"):
        DataLoader([1, 2, 3].__iter__())
    with pytest.raises(ValueError, match=r"different shapes"):
        next(iter(DataLoader([np.zeros((1, 2, 2), np.float32), np.zeros((1, 2, 3), np.float32)],
                             batch_size=2)))


def test_array_dataset_checks_its_arrays():
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        ArrayDataset(np.zeros((4, 5), np.uint8), np.arange(4))
    with pytest.raises(ValueError, match="4 integer labels"):
        ArrayDataset(np.zeros((4, 5, 5), np.uint8), np.arange(3))
    with pytest.raises(ValueError, match="integer labels"):
        ArrayDataset(np.zeros((4, 5, 5), np.uint8), np.zeros(4))


# ----- transforms ----------------------------------------------------------------------------


def test_to_float_scales_uint8_to_unit_float32():
    image = np.array([0, 51, 255], np.uint8).reshape(1, 1, 3)
    result = transforms.ToFloat()(image)
    assert result.dtype == np.float32 and result.shape == (1, 1, 3)
    np.testing.assert_allclose(result.ravel(), [0.0, 0.2, 1.0], rtol=1e-7)
    with pytest.raises(TypeError, match="uint8"):
        transforms.ToFloat()(result)  # no double scaling


def test_normalize_math_dtype_and_errors():
    image = np.arange(8, dtype=np.float32).reshape(2, 2, 2)
    normalize = transforms.Normalize((1.0, 2.0), (0.5, 4.0))
    result = normalize(image)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result[0], (image[0] - 1.0) / 0.5)
    np.testing.assert_allclose(result[1], (image[1] - 2.0) / 4.0)
    batch = np.stack([image, image + 1])
    np.testing.assert_allclose(normalize(batch), np.stack([normalize(image), normalize(image + 1)]))
    assert transforms.Normalize(0.5, 0.25)(image.astype(np.float64)).dtype == np.float64
    with pytest.raises(ValueError, match="3 values but the images have 2 channels"):
        transforms.Normalize((0.1, 0.2, 0.3), (1, 1, 1))(image)
    with pytest.raises(TypeError, match="ToFloat"):
        normalize(image.astype(np.uint8))
    with pytest.raises(ValueError, match="std must be positive"):
        transforms.Normalize((0.5,), (0.0,))
    with pytest.raises(ValueError, match="mean must be"):
        transforms.Normalize("abc", (1.0,))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        normalize(image[0])


def windows_of(padded: np.ndarray, height: int, width: int):
    return [padded[:, top:top + height, left:left + width]
            for top in range(padded.shape[1] - height + 1)
            for left in range(padded.shape[2] - width + 1)]


def test_random_crop_shapes_and_content():
    minidl.manual_seed(0)
    image = np.arange(1, 2 * 6 * 5 + 1, dtype=np.uint8).reshape(2, 6, 5)
    crop = transforms.RandomCrop((4, 3))
    for _ in range(10):
        result = crop(image)
        assert result.shape == (2, 4, 3) and result.dtype == np.uint8
        assert any(np.array_equal(result, window) for window in windows_of(image, 4, 3))
    assert np.array_equal(transforms.RandomCrop((6, 5))(image), image)  # nothing to choose
    padded_crop = transforms.RandomCrop(5, padding=2)
    padded = np.pad(image, ((0, 0), (2, 2), (2, 2)))
    results = [padded_crop(image) for _ in range(30)]
    assert all(any(np.array_equal(r, w) for w in windows_of(padded, 5, 5)) for r in results)
    assert any((r == 0).any() for r in results)  # some windows include the zero padding
    batch = np.stack([image] * 16)
    cropped = padded_crop(batch)
    assert cropped.shape == (16, 2, 5, 5)
    assert all(any(np.array_equal(c, w) for w in windows_of(padded, 5, 5)) for c in cropped)
    assert len({c.tobytes() for c in cropped}) > 1  # each image of a batch has its own window
    minidl.manual_seed(5)
    again = padded_crop(batch)
    minidl.manual_seed(5)
    assert np.array_equal(padded_crop(batch), again)  # reproducible under manual_seed
    with pytest.raises(ValueError, match="cannot cut 7x7"):
        transforms.RandomCrop(7)(image)
    with pytest.raises(ValueError, match="size"):
        transforms.RandomCrop(0)
    with pytest.raises(ValueError, match="padding"):
        transforms.RandomCrop(4, padding=-1)


def test_random_horizontal_flip():
    image = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    assert np.array_equal(transforms.RandomHorizontalFlip(p=0)(image), image)
    assert np.array_equal(transforms.RandomHorizontalFlip(p=1)(image), image[:, :, ::-1])
    batch = np.stack([image] * 64)
    assert np.array_equal(transforms.RandomHorizontalFlip(p=1)(batch), batch[..., ::-1])
    assert np.array_equal(transforms.RandomHorizontalFlip(p=0)(batch), batch)
    minidl.manual_seed(0)
    mixed = transforms.RandomHorizontalFlip()(batch)
    flipped = [np.array_equal(item, image[:, :, ::-1]) for item in mixed]
    assert all(f or np.array_equal(item, image) for f, item in zip(flipped, mixed))
    assert 10 < sum(flipped) < 54  # per-image coin flips
    with pytest.raises(ValueError, match="probability"):
        transforms.RandomHorizontalFlip(p=1.5)


def test_flatten_and_compose():
    image = np.zeros((3, 4, 5), np.uint8)
    assert transforms.Flatten()(image).shape == (60,)
    assert transforms.Flatten()(np.stack([image] * 2)).shape == (2, 60)
    pipeline = transforms.Compose([transforms.ToFloat(), transforms.Flatten()])
    assert pipeline.supports_batch
    result = pipeline(image)
    assert result.shape == (60,) and result.dtype == np.float32
    loader = DataLoader(MNIST(train=False, transform=pipeline), batch_size=10)
    images, _ = next(iter(loader))
    assert images.data.shape == (10, 784) and images.data.dtype == np.float32
    with pytest.raises(TypeError, match="callables"):
        transforms.Compose([transforms.ToFloat(), "Flatten"])
    with pytest.raises(ValueError, match="shape"):
        transforms.Flatten()(np.zeros((4, 5)))
