"""One least-recently-used cache, shared by the torch text encoder and the torch-free ONNX one (so: no torch)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable


class LruCache:
    """key -> value, keeping the `size` most recently used."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict = OrderedDict()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def get_many(self, keys: list, compute: Callable[[list], list]) -> list:
        """The values of `keys`, in order; those not cached come from one call `compute(missing keys)`, each key
        once. Evicts only after reading, so a call with more keys than `size` still gets every value."""
        missing = list(dict.fromkeys(key for key in keys if key not in self._items))
        if missing:
            self._items.update(zip(missing, compute(missing), strict=True))
        values = []
        for key in keys:
            self._items.move_to_end(key)
            values.append(self._items[key])
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return values

    def clear(self) -> None:
        self._items.clear()
