"""minidl.utils.data: PyTorch's Dataset, TensorDataset, Subset, random_split, DataLoader (with
num_workers, pin_memory, collate_fn, generator) and default_collate's batch types."""
from __future__ import annotations

import collections
import warnings

import numpy as np
import pytest

import minidl
import minidl.data
from minidl import nn
from minidl.data import MNIST, transforms
from minidl.data import loader as loader_module
from minidl.utils.data import (DataLoader, Dataset, Subset, TensorDataset, default_collate,
                               random_split)


class Squares(Dataset):
    """A PyTorch-style data set: items (float32 image (1, 2, 2), int label)."""

    def __init__(self, count=10):
        self.count = count

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        return np.full((1, 2, 2), index, np.float32), index * index


def features_and_labels(count=10):
    features = minidl.tensor(np.arange(count * 3, dtype=np.float32).reshape(count, 3))
    labels = minidl.tensor(np.arange(count) % 4)
    return features, labels


def test_the_names_are_minidls_own_objects():
    assert DataLoader is minidl.data.DataLoader
    assert minidl.utils.data.TensorDataset is minidl.data.TensorDataset
    assert isinstance(MNIST(train=False), Dataset)


def test_dataset_base_class_says_what_to_implement():
    class Empty(Dataset):
        pass

    with pytest.raises(NotImplementedError, match="Empty must implement __getitem__"):
        Empty()[0]
    with pytest.raises(NotImplementedError, match="Empty must implement __len__"):
        len(Empty())


def test_tensor_dataset_items_and_checks():
    features, labels = features_and_labels()
    dataset = TensorDataset(features, labels)
    assert len(dataset) == 10
    feature, label = dataset[4]
    np.testing.assert_array_equal(feature.data, [12, 13, 14])
    assert label.item() == 0 and label.dtype == np.int64
    with pytest.raises(ValueError, match=r"same first dimension, got sizes \[10, 9\]"):
        TensorDataset(features, labels[:9])
    with pytest.raises(TypeError, match="got a ndarray as argument 1"):
        TensorDataset(features, np.arange(10))
    with pytest.raises(ValueError, match="0-d tensor"):
        TensorDataset(minidl.tensor(3.0))
    with pytest.raises(ValueError, match="at least one tensor"):
        TensorDataset()


def test_loader_over_a_tensor_dataset_gives_tensors_as_pytorch():
    features, labels = features_and_labels()
    batches = list(DataLoader(TensorDataset(features, labels), batch_size=4))
    assert [len(batch) for batch in batches] == [2, 2, 2]
    inputs, targets = batches[1]
    assert isinstance(inputs, minidl.Tensor) and inputs.dtype == np.float32
    assert isinstance(targets, minidl.Tensor) and targets.dtype == np.int64
    np.testing.assert_array_equal(inputs.data, features.data[4:8])
    assert targets.tolist() == [0, 1, 2, 3]
    assert batches[2][0].shape == (2, 3)


def test_default_collate_types_follow_pytorch():
    images, labels = DataLoader(Squares(), batch_size=3).__iter__().__next__()
    assert images.dtype == np.float32 and images.shape == (3, 1, 2, 2)
    assert labels.dtype == np.int64 and labels.tolist() == [0, 1, 4]
    assert not images.requires_grad
    batch = default_collate([{"x": np.float64(1.5), "name": "a", "ok": True},
                             {"x": np.float64(2.5), "name": "b", "ok": False}])
    assert batch["x"].dtype == np.float64 and batch["x"].tolist() == [1.5, 2.5]
    assert batch["name"] == ["a", "b"] and batch["ok"].tolist() == [True, False]
    floats = default_collate([0.5, 1.25])
    assert floats.dtype == np.float64 and floats.tolist() == [0.5, 1.25]
    Pair = collections.namedtuple("Pair", "image label")
    pair = default_collate([Pair(np.zeros(2, np.float32), 1), Pair(np.ones(2, np.float32), 2)])
    assert isinstance(pair, Pair) and pair.label.tolist() == [1, 2]
    assert pair.image.data.tolist() == [[0, 0], [1, 1]]
    tensors = default_collate([minidl.tensor(np.ones(2)), minidl.tensor(np.zeros(2))])
    assert tensors.dtype == np.float64 and tensors.shape == (2, 2)
    integers = default_collate([np.array([1, 2], np.int32), np.array([3, 4], np.int32)])
    assert integers.dtype == np.int64  # minidl's integer dtype (minidl.tensor's rule)


def test_the_batch_is_a_copy_not_a_view_of_the_items():
    source = [np.zeros(2, np.float32), np.ones(2, np.float32)]
    batch = default_collate(source)
    batch.data[...] = 7
    assert source[0].tolist() == [0, 0]


def test_default_collate_refuses_items_that_do_not_fit_together():
    with pytest.raises(ValueError, match=r"item\[0\] of different shapes"):
        default_collate([(np.zeros(2, np.float32), 0), (np.zeros(3, np.float32), 1)])
    with pytest.raises(TypeError, match="different dtypes.*float32, float64"):
        default_collate([np.zeros(2, np.float32), np.zeros(2, np.float64)])
    with pytest.raises(ValueError, match="2 fields in the first item but 3 fields in item 1"):
        default_collate([(1, 2), (1, 2, 3)])
    with pytest.raises(ValueError, match="keys"):
        default_collate([{"a": 1}, {"b": 1}])
    with pytest.raises(TypeError, match=r"item\[1\] is a int in the first item but a float"):
        default_collate([(0, 1), (0, 1.5)])
    with pytest.raises(TypeError, match="collate_fn"):
        default_collate([object(), object()])
    with pytest.raises(ValueError, match="non-empty list"):
        default_collate([])


def test_collate_fn_receives_the_items():
    seen = []

    def collate(items):
        seen.append(items)
        return len(items)

    loader = DataLoader(Squares(5), batch_size=2, collate_fn=collate)
    assert list(loader) == [2, 2, 1]
    assert seen[0][1][1] == 1 and seen[2][0][1] == 16
    with pytest.raises(TypeError, match="collate_fn must be callable"):
        DataLoader(Squares(), collate_fn="stack")


def test_collate_fn_replaces_the_fast_path_of_array_data_sets():
    dataset = MNIST(train=False, transform=transforms.ToFloat())
    labels = DataLoader(dataset, batch_size=3, collate_fn=lambda items: [i[1] for i in items])
    assert next(iter(labels)) == [dataset[i][1] for i in range(3)]


def test_num_workers_loads_in_process_with_a_single_note(monkeypatch):
    monkeypatch.setattr(loader_module, "_told_about_workers", False)
    with pytest.warns(UserWarning, match="main process"):
        workers = DataLoader(Squares(), batch_size=4, shuffle=True, generator=5, num_workers=2,
                             pin_memory=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the note is given once per process
        DataLoader(Squares(), batch_size=4, num_workers=4)
        in_process = DataLoader(Squares(), batch_size=4, shuffle=True, generator=5)
    assert workers.num_workers == 2 and workers.pin_memory is True
    for (a_images, a_labels), (b_images, b_labels) in zip(workers, in_process):
        np.testing.assert_array_equal(a_images.data, b_images.data)
        assert a_labels.tolist() == b_labels.tolist()
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="num_workers must be a non-negative int"):
            DataLoader(Squares(), num_workers=bad)
    with pytest.raises(TypeError, match="pin_memory must be True or False"):
        DataLoader(Squares(), pin_memory="yes")


def order_of(loader):
    return sum((labels.tolist() for _, labels in loader), [])


def test_generator_makes_shuffling_reproducible():
    labels = minidl.tensor(np.arange(20))
    dataset = TensorDataset(minidl.tensor(np.zeros((20, 1), np.float32)), labels)
    seeded = DataLoader(dataset, batch_size=6, shuffle=True, generator=7)
    assert order_of(seeded) == np.random.default_rng(7).permutation(20).tolist()
    generator = np.random.default_rng(3)
    given = DataLoader(dataset, batch_size=6, shuffle=True, generator=generator)
    assert given.generator is generator
    expected = np.random.default_rng(3)
    assert [order_of(given) for _ in range(2)] == [expected.permutation(20).tolist()
                                                    for _ in range(2)]
    minidl.manual_seed(1)
    first = order_of(DataLoader(dataset, batch_size=6, shuffle=True))
    minidl.manual_seed(1)
    assert order_of(DataLoader(dataset, batch_size=6, shuffle=True)) == first
    with pytest.raises(ValueError, match="seed or generator, not both"):
        DataLoader(dataset, shuffle=True, seed=1, generator=1)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        DataLoader(dataset, shuffle=True, generator="seed")
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        DataLoader(dataset, shuffle=True, generator=-1)


def test_subset_items_and_checks():
    subset = Subset(Squares(), [4, 1, -1])
    assert len(subset) == 3
    assert [subset[i][1] for i in range(3)] == [16, 1, 81]
    assert [item[1] for item in subset[[0, 2]]] == [16, 81]
    with pytest.raises(IndexError, match="index 10 is out of range for a data set of 10"):
        Subset(Squares(), [0, 10])
    with pytest.raises(TypeError, match="integer indices"):
        Subset(Squares(), [0.5])
    with pytest.raises(TypeError, match="__len__ and __getitem__"):
        Subset(3, [0])


def test_a_subset_of_an_array_data_set_keeps_the_fast_path():
    dataset = MNIST(train=False, transform=transforms.ToFloat())
    subset = Subset(dataset, [9, 3, 5, 7])
    assert callable(subset.get_batch)
    assert Subset(Squares(), [1]).get_batch is None
    images, labels = next(iter(DataLoader(subset, batch_size=4)))
    np.testing.assert_array_equal(images.data, np.stack([dataset[i][0] for i in (9, 3, 5, 7)]))
    assert labels.dtype == np.int64 and labels.tolist() == dataset.targets[[9, 3, 5, 7]].tolist()
    with pytest.raises(TypeError, match="ToFloat"):  # the fast path's uint8 check holds too
        next(iter(DataLoader(Subset(MNIST(train=False), [0, 1]), batch_size=2)))


def test_random_split_counts_and_fractions():
    parts = random_split(Squares(10), [3, 7], generator=0)
    order = np.random.default_rng(0).permutation(10)
    assert [list(part.indices) for part in parts] == [order[:3].tolist(), order[3:].tolist()]
    # fractions: floor(10 * 0.25) = 2 each, the 2 left over go to the first two splits
    sizes = [len(part) for part in random_split(Squares(10), [0.25] * 4, generator=1)]
    assert sizes == [3, 3, 2, 2]
    # floor: 2, 2, 5; the 1 left over goes to the first split
    sizes = [len(part) for part in random_split(Squares(10), [0.25, 0.25, 0.5], generator=1)]
    assert sizes == [3, 2, 5]
    # PyTorch's example: random_split(range(10), [0.3, 0.3, 0.4]) gives 3, 3, 4 items
    parts = random_split(range(10), [0.3, 0.3, 0.4], generator=2)
    assert [len(part) for part in parts] == [3, 3, 4]
    assert sorted(sum((list(part) for part in parts), [])) == list(range(10))
    minidl.manual_seed(4)
    first = [list(part.indices) for part in random_split(Squares(), [5, 5])]
    minidl.manual_seed(4)
    assert [list(part.indices) for part in random_split(Squares(), [5, 5])] == first


def test_random_split_refuses_bad_lengths():
    with pytest.raises(ValueError, match=r"summing to the length of the data set \(10\)"):
        random_split(Squares(10), [3, 3])
    with pytest.raises(ValueError, match="non-negative counts"):
        random_split(Squares(10), [12, -2])
    with pytest.raises(ValueError, match="fractions in"):
        random_split(Squares(10), [0.5, 0.4])
    with pytest.raises(ValueError, match="fractions in"):
        random_split(Squares(10), [1.5, -0.5])
    with pytest.raises(TypeError, match="a mix"):
        random_split(Squares(10), [5, 0.5])
    with pytest.raises(TypeError, match="sequence of counts"):
        random_split(Squares(10), 5)
    with pytest.raises(TypeError, match="counts"):
        random_split(Squares(10), [True, 9])


def test_fit_and_evaluate_take_tensor_dataset_batches():
    minidl.manual_seed(0)
    features = minidl.tensor(np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32))
    labels = minidl.tensor((features.data[:, 0] > 0).astype(np.int64))
    loader = DataLoader(TensorDataset(features, labels), batch_size=8, shuffle=True,
                        generator=0)
    model = nn.Linear(4, 2)
    history = minidl.train.fit(model, nn.CrossEntropyLoss(), minidl.optim.SGD(
        model.parameters(), lr=0.5), loader, epochs=2)
    assert [record["epoch"] for record in history.records] == [1, 2]
    assert history.steps_per_epoch == [4, 4]
    result = minidl.train.evaluate(model, DataLoader(TensorDataset(features, labels),
                                                     batch_size=10))
    with minidl.no_grad():
        predictions = model(features).data.argmax(axis=1)
    assert result.accuracy == pytest.approx(np.mean(predictions == labels.data))


def test_tensor_dataset_batches_in_one_go_equal_the_collated_items():
    features, labels = features_and_labels(12)
    mask = minidl.tensor(np.arange(12) % 3) == 0  # a bool tensor
    dataset = TensorDataset(features, labels, mask)
    fast = list(DataLoader(dataset, batch_size=5, shuffle=True, generator=2))
    per_item = list(DataLoader(dataset, batch_size=5, shuffle=True, generator=2,
                               collate_fn=default_collate))
    for fast_batch, item_batch in zip(fast, per_item, strict=True):
        assert isinstance(fast_batch, list) and len(fast_batch) == 3
        for fast_field, item_field in zip(fast_batch, item_batch):
            assert fast_field.dtype == item_field.dtype
            np.testing.assert_array_equal(fast_field.data, item_field.data)
    fast[0][0].data[...] = -1  # a copy: the data set is untouched
    assert features.data.min() == 0
    train, _ = random_split(dataset, [8, 4], generator=0)
    assert callable(train.collated_batch)
    inputs, targets, _ = next(iter(DataLoader(train, batch_size=8)))
    np.testing.assert_array_equal(inputs.data, features.data[train.indices])
    assert Subset(Squares(), [0]).collated_batch is None

    class Doubled(TensorDataset):
        def __getitem__(self, index):
            feature, label = super().__getitem__(index)
            return feature * 2, label

    inputs, _ = next(iter(DataLoader(Doubled(features, labels), batch_size=2)))
    np.testing.assert_array_equal(inputs.data, features.data[:2] * 2)
