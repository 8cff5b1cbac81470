#!/usr/bin/env python3
"""Fits the polynomial coefficients of src/cpu/vmath.h and prints them.

  exp:   e^r = 1 + r + r^2 P(r) on |r| <= ln2/2      (P degree 4)
  erfc:  erfc(x) = t Q(t) e^{-x^2}, t = 1/(1 + x/2), x in [0, 10]   (Q degree 8)

Least squares (relative error) on Chebyshev-spaced points, references computed
with mpmath at 30 digits; reports the worst relative error of the f32 Horner
evaluation. Needs numpy and mpmath (the reference env: scripts/setup_reference_env.sh).
  .cache/venv/bin/python tools/fit_vmath.py
"""
import mpmath as mm
import numpy as np

mm.mp.dps = 30


def horner32(coeffs, x):
    acc = np.zeros_like(x)
    for c in coeffs[::-1]:
        acc = acc * x + np.float32(c)
    return acc


def main():
    half_ln2 = np.log(2) / 2
    r = np.cos(np.linspace(0, np.pi, 2000)) * half_ln2
    f = np.array([float((mm.exp(mm.mpf(x)) - 1 - x) / (x * x)) if abs(x) > 1e-12 else 0.5 for x in r])
    c = np.polynomial.polynomial.polyfit(r, f, 4, w=r * r / np.exp(r))
    r32 = r.astype(np.float32)
    e = np.float32(1) + r32 + r32 * r32 * horner32(c, r32)
    print("exp P (low to high):", [float(np.float32(x)) for x in c],
          "worst rel", np.max(np.abs(e / np.exp(r) - 1)))

    x = (1 - np.cos(np.linspace(0, np.pi, 20001))) * 5  # [0, 10], dense near both ends
    t = 1 / (1 + 0.5 * x)
    g = np.array([float(mm.erfc(mm.mpf(v)) * mm.exp(mm.mpf(v) ** 2)) for v in x])
    c = np.polynomial.polynomial.polyfit(t, g / t, 8)
    t32 = t.astype(np.float32)
    print("erfc Q (low to high):", [float(np.float32(v)) for v in c],
          "worst rel", np.max(np.abs(t32 * horner32(c, t32) / g - 1)))


if __name__ == "__main__":
    main()
