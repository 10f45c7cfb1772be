"""Shared cases for the optimizer tests (no tests here): every option combination, data,
comparison helpers."""
import itertools

import numpy as np

SHAPES = [(1,), (7,), (33,), (40, 25)]      # sizes off every SIMD width; one 2-D array
RTOL = {np.float32: 1e-5, np.float64: 1e-12}


def _product(**options):
    keys = list(options)
    for values in itertools.product(*(options[k] for k in keys)):
        yield dict(zip(keys, values))


def _id(name, kw):
    return name + "-" + ",".join(f"{k}={v}" for k, v in kw.items())


def configs():
    """(class name, kwargs) for every combination of every option."""
    out = []
    for kw in _product(momentum=[0.0, 0.9], dampening=[0.0, 0.1], nesterov=[False, True],
                       weight_decay=[0.0, 0.01], maximize=[False, True]):
        if kw["nesterov"] and (kw["momentum"] == 0 or kw["dampening"] != 0):
            continue
        out.append(("SGD", dict(lr=0.05, **kw)))
    for name in ("Adam", "AdamW"):
        for kw in _product(weight_decay=[0.0, 0.1], amsgrad=[False, True],
                           maximize=[False, True]):
            out.append((name, dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, **kw)))
    for kw in _product(centered=[False, True], momentum=[0.0, 0.9], weight_decay=[0.0, 0.01],
                       maximize=[False, True]):
        out.append(("RMSprop", dict(lr=0.01, alpha=0.95, eps=1e-6, **kw)))
    for kw in _product(lr_decay=[0.0, 0.01], weight_decay=[0.0, 0.01],
                       initial_accumulator_value=[0.0, 0.1], maximize=[False, True]):
        out.append(("Adagrad", dict(lr=0.1, eps=1e-10, **kw)))
    for kw in _product(weight_decay=[0.0, 0.1], betas=[(0.9, 0.99), (0.95, 0.98)]):
        out.append(("Lion", dict(lr=1e-3, **kw)))
    for kw in _product(weight_decay=[0.0, 0.01], warmup_steps=[0, 5], r=[0.0, 1.0]):
        out.append(("ScheduleFreeSGD", dict(lr=0.1, momentum=0.9, **kw)))
    for kw in _product(weight_decay=[0.0, 0.01], warmup_steps=[0, 5], r=[0.0, 1.0],
                       formulation=["current", "paper"]):
        out.append(("ScheduleFreeAdamW", dict(lr=0.01, betas=(0.9, 0.999), **kw)))
    out += new_configs()
    return out


def new_configs():
    """The rest of torch.optim's elementwise family (NAdam ... Rprop)."""
    out = []
    for kw in _product(weight_decay=[0.0, 0.1], decoupled_weight_decay=[False, True],
                       maximize=[False, True]):
        if kw["decoupled_weight_decay"] and not kw["weight_decay"]:
            continue
        out.append(("NAdam", dict(lr=0.01, momentum_decay=4e-3, **kw)))
        out.append(("RAdam", dict(lr=0.01, **kw)))
    out.append(("NAdam", dict(lr=0.01, betas=(0.8, 0.99), momentum_decay=0.5)))
    out.append(("RAdam", dict(lr=0.01, betas=(0.8, 0.9))))     # rectified from step 6 on
    for kw in _product(weight_decay=[0.0, 0.1], maximize=[False, True]):
        out.append(("Adamax", dict(lr=0.01, **kw)))
        out.append(("Adadelta", dict(lr=1.0, rho=0.9, **kw)))
        out.append(("ASGD", dict(lr=0.01, lambd=1e-2, t0=10.0, **kw)))
        out.append(("Rprop", dict(lr=0.01, maximize=kw["maximize"]) if not kw["weight_decay"]
                    else dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2),
                              maximize=kw["maximize"])))
    out.append(("ASGD", dict(lr=0.01)))                            # t0 = 1e6: ax = p
    return out


CONFIGS = configs()
CONFIG_IDS = [_id(n, kw) for n, kw in CONFIGS]
TORCH_NAMES = ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "NAdam", "RAdam", "Adamax",
               "Adadelta", "ASGD", "Rprop")


def data(dtype, steps, seed=0, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(steps)]
    return params, grads


def run(backend, name, kwargs, params, grads):
    """Params (copies) after ``len(grads)`` steps, and the optimizer."""
    ps = [p.copy() for p in params]
    opt = getattr(backend, name)(ps, **kwargs)
    for g in grads:
        assert opt.step(g) is True
    return ps, opt


def assert_close(actual, expected, rtol):
    """Elementwise within ``rtol``, relative to each array's largest magnitude near 0."""
    for a, b in zip(actual, expected):
        scale = float(np.max(np.abs(b))) if b.size else 0.0
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)


def bits_differ(actual, expected):
    """How many elements differ in their bits."""
    n = 0
    for a, b in zip(actual, expected):
        ua = a.view(np.uint32 if a.dtype == np.float32 else np.uint64)
        n += int(np.count_nonzero(ua != b.view(ua.dtype)))
    return n
