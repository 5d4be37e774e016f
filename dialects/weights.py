"""Weight stores: the runtime buffers that `graph.weight "name"` ops refer to.

Weights never travel as IR text (printing or parsing millions of floats costs seconds
and gigabytes). A module names its store in the `graph.weights` module attribute:

* `"mem:<n>"`   a store registered in this process (what the importer creates);
* `"file:<path>"` weights read lazily from an .onnx file (its initializers) or an .npz
  file, so IR printed by one process can be re-read with its weights by another.

Passes that need weight values (fold, fuse) call `store_for(module)`; when it returns
None (IR text whose weights are unknown) they leave weight-dependent rewrites alone.
"""

from __future__ import annotations

import itertools
import os
import weakref

import numpy as np
from xdsl.dialects.builtin import ModuleOp, StringAttr

WEIGHTS_ATTR = "graph.weights"


class WeightStore:
    """A named collection of numpy arrays (the model's weights)."""

    def __init__(self, arrays: dict[str, np.ndarray] | None = None):
        self.arrays: dict[str, np.ndarray] = {}
        for name, array in (arrays or {}).items():
            self.arrays[name] = np.ascontiguousarray(array)
        self.key = ""

    def __contains__(self, name: str) -> bool:
        return name in self.arrays

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.arrays[name]
        except KeyError:
            raise KeyError(f"weight '{name}' is not in the module's weight store") from None

    def __len__(self) -> int:
        return len(self.arrays)

    def add(self, name: str, array: np.ndarray) -> str:
        """Store `array` under `name`, or under a fresh `name_<k>` if taken; return it."""
        unique = name
        for k in itertools.count(1):
            if unique not in self.arrays:
                break
            unique = f"{name}_{k}"
        self.arrays[unique] = np.ascontiguousarray(array)
        return unique

    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())


_registry: weakref.WeakValueDictionary[str, WeightStore] = weakref.WeakValueDictionary()
_file_stores: dict[str, WeightStore] = {}
_counter = itertools.count()


def register(store: WeightStore) -> str:
    """Give `store` a process-wide key (kept only while the store is alive)."""
    if not store.key:
        store.key = f"mem:{next(_counter)}"
        _registry[store.key] = store
    return store.key


def register_as(store: WeightStore, key: str) -> str:
    """Register `store` under a chosen key (e.g. `file:<path>` of the model it came from).

    File-keyed stores are also kept alive, as `store_for` would reload them anyway.
    """
    store.key = key
    _registry[key] = store
    if key.startswith("file:"):
        _file_stores[key] = store
    return key


def attach(module: ModuleOp, store: WeightStore) -> None:
    """Make `store` the weight store of `module`."""
    module.attributes[WEIGHTS_ATTR] = StringAttr(register(store))


def ensure_store(module: ModuleOp) -> WeightStore:
    """The weight store of `module`, attaching a new empty one when it names none."""
    store = store_for(module)
    if store is None:
        store = WeightStore()
        attach(module, store)
    return store


def store_for(module: ModuleOp) -> WeightStore | None:
    """The weight store `module` names, or None when it names none or it is gone."""
    attr = module.attributes.get(WEIGHTS_ATTR)
    if not isinstance(attr, StringAttr):
        return None
    key = attr.data
    if key in _registry:
        return _registry[key]
    if key.startswith("file:"):
        return _load_file_store(key)
    return None


def _load_file_store(key: str) -> WeightStore | None:
    if key in _file_stores:
        return _file_stores[key]
    path = key[len("file:"):]
    if not os.path.exists(path):
        return None
    if path.endswith(".npz"):
        with np.load(path) as data:
            store = WeightStore({name: data[name] for name in data.files})
    else:
        import onnx  # only for a `file:` store of an .onnx model
        from onnx import numpy_helper

        model = onnx.load(path)
        store = WeightStore({init.name: numpy_helper.to_array(init)
                             for init in model.graph.initializer})
    store.key = key
    _file_stores[key] = store
    _registry[key] = store
    return store


def save_npz(store: WeightStore, path: str) -> None:
    """Write a store to an .npz file that `file:<path>` can name later."""
    np.savez(path, **store.arrays)
