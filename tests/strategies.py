"""Hypothesis strategies for random schedules, as reference-backend objects.

``schedules()`` draws any schedule of the catalogue, composites nested to any depth
included (Lambda excepted: it is not compilable). The compiled twin of a drawn
schedule is ``fastlr.from_config(s.to_config())``.
"""
from hypothesis import strategies as st

import fastlr.reference as ref

lrs = st.floats(0.0, 10.0, allow_subnormal=False)
pos_lrs = st.floats(1e-6, 10.0)
lengths = st.one_of(st.integers(1, 3000), st.floats(0.5, 3000.0))
counts = st.one_of(st.integers(0, 300), st.floats(2.0 ** -20, 300.0))  # 0 or a length
decays = st.floats(0.01, 1.0)
exponents = st.one_of(st.just(1.0), st.floats(0.1, 4.0))
num_cycles = st.one_of(st.just(0.5), st.floats(0.05, 20.0))
k_decays = st.one_of(st.just(1.0), st.floats(0.1, 4.0))


def _sorted(elems, strict, min_size=0, max_size=5):
    return st.lists(elems, min_size=min_size, max_size=max_size,
                    unique=strict).map(sorted)


def leaves():
    return st.one_of(
        st.builds(ref.Constant, lrs),
        st.builds(ref.Linear, lrs, lrs, lengths),
        st.builds(ref.Step, lrs, lengths, decays),
        st.builds(ref.MultiStep, lrs, _sorted(st.integers(0, 2000), False), decays),
        st.builds(ref.Exponential, lrs, decays, lengths, st.booleans(),
                  st.one_of(st.none(), st.floats(0.0, 0.5))),
        st.builds(ref.Exponential, lrs, st.floats(1.0, 1.5), lengths, st.booleans(),
                  st.floats(0.0, 20.0)),
        st.builds(ref.Polynomial, lrs, lengths, lrs, st.floats(0.1, 4.0)),
        st.builds(ref.Cosine, lrs, lengths, lrs),
        st.builds(ref.CosineRestarts, lrs, lengths,
                  st.one_of(st.just(1.0), st.integers(1, 10), st.floats(1.0, 4.0)),
                  lrs, decays),
        st.builds(ref.InverseSqrt, lrs, lengths),
        st.builds(ref.InverseTime, lrs, st.floats(0.0, 5.0), lengths, st.booleans()),
        st.builds(ref.Cyclic, lrs, lrs, lengths, st.one_of(st.none(), lengths),
                  st.sampled_from(["triangular", "triangular2", "exp_range"]),
                  st.floats(0.9, 1.0)),
        st.builds(ref.OneCycle, pos_lrs, lengths, st.floats(0.0, 1.0),
                  st.sampled_from(["cos", "linear"]), st.floats(1.0, 100.0),
                  st.floats(1.0, 1e5), st.booleans()),
        st.builds(ref.OneCycleMomentum, lengths, st.floats(0.0, 1.0),
                  st.sampled_from(["cos", "linear"]), st.booleans(), decays, decays),
        st.builds(ref.WarmupStableDecay, lrs, counts, counts, counts, lrs,
                  st.sampled_from(["linear", "cosine", "1-sqrt"])),
        _sorted(st.integers(0, 3000), True).flatmap(
            lambda b: st.builds(ref.PiecewiseConstant, st.just(b),
                                st.lists(lrs, min_size=len(b) + 1, max_size=len(b) + 1))),
        _sorted(st.integers(0, 3000), True, min_size=1).flatmap(
            lambda s: st.builds(ref.PiecewiseLinear, st.just(s),
                                st.lists(lrs, min_size=len(s), max_size=len(s)))),
        # the peers' options (issue 11): optax exponent, transformers cycles and timescale,
        # keras cycle and amplitude decay, timm k_decay, cycle_limit and tanh
        st.builds(ref.Cosine, lrs, lengths, lrs, exponents, num_cycles, k_decays),
        st.builds(ref.Polynomial, lrs, lengths, lrs, st.floats(0.1, 4.0), st.booleans(),
                  k_decays),
        st.builds(ref.CosineRestarts, lrs, lengths,
                  st.one_of(st.just(1.0), st.integers(1, 10), st.floats(1.0, 4.0)),
                  lrs, decays, st.sampled_from(["peak", "amplitude"]),
                  st.one_of(st.none(), st.integers(0, 6), st.floats(0.0, 6.0)), k_decays),
        st.builds(ref.InverseSqrt, lrs, counts, lengths),
        st.builds(ref.Tanh, lrs, lengths, lrs, st.floats(-10.0, -0.5), st.floats(0.0, 10.0)),
        st.builds(ref.WarmupStableDecay, lrs, counts, counts, counts, lrs,
                  st.sampled_from(["linear", "cosine", "1-sqrt", "power", "exp"]),
                  st.sampled_from(["constant", "rsqrt", "power"]), lengths,
                  st.floats(0.05, 4.0), st.floats(0.05, 4.0), st.floats(0.01, 0.99)),
    )


def _composites(children):
    return st.one_of(
        st.builds(ref.Warmup, children, counts, pos_lrs,
                  st.sampled_from(["linear", "exponential", "cosine"])),
        st.builds(ref.Scaled, children, st.floats(0.0, 4.0)),
        st.lists(children, min_size=1, max_size=4).flatmap(
            lambda kids: st.builds(ref.Sequence, st.just(kids),
                                   _sorted(counts, False, len(kids) - 1, len(kids) - 1))),
        # the algebra of issue 11: global-clock warmups, products, SWA, noise
        st.builds(ref.Warmup, children, counts, pos_lrs,
                  st.sampled_from(["linear", "exponential", "cosine", "1-sqrt"]),
                  st.sampled_from(["local", "global"]), st.sampled_from(["start", "end"])),
        st.builds(ref.Product, st.lists(children, min_size=1, max_size=3)),
        st.builds(ref.SWA, children, lrs, counts, counts, st.sampled_from(["cos", "linear"])),
        st.tuples(counts, st.one_of(st.none(), counts)).flatmap(
            lambda se: st.builds(ref.Noise, children, st.just(min(se[0], se[1] or se[0])),
                                 st.just(None if se[1] is None else max(se)),
                                 st.floats(0.01, 1.0), st.floats(0.01, 3.0),
                                 st.sampled_from(["normal", "uniform"]),
                                 st.integers(0, 2 ** 64 - 1))),
    )


def schedules(max_leaves=8):
    return st.recursive(leaves(), _composites, max_leaves=max_leaves)


def steps():
    """Steps to probe: small integers, fractions, boundaries of typical sizes, huge."""
    return st.lists(st.one_of(
        st.integers(0, 5000),
        st.floats(0.0, 5000.0),
        st.integers(0, 10 ** 12),
        st.integers(2 ** 52, 2 ** 53),
        st.sampled_from([0, 1, 2, 9, 10, 11, 99, 100, 101, 999, 1000, 1e12, 2 ** 53]),
    ), min_size=1, max_size=40)
