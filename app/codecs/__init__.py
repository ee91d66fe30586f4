"""Tensor codecs: the bytes on the wire <-> numpy arrays.

- `json_tensor`: `application/json` bodies; a tensor is a number or a rectangular nested array,
  non-finite values are the strings "NaN", "Infinity", "-Infinity".
- `npy_tensor`: `application/x-npy` bodies, a safe subset of NumPy's ``.npy`` (never unpickled).

Codecs know nothing of HTTP frameworks: they raise the domain errors of `app.errors`, whose status
the API maps in one place. The dtype names come from `app.numerics.dtypes`.
"""
