"""fastlr.torch.LRScheduler inside the real clients: Lightning and the transformers Trainer.

Tiny models built from code (no hub access), a few steps each, checkpoints in ``tmp_path``.
Each client's resume is compared with an uninterrupted run, exactly; a plateau under
Lightning is compared with torch's ``ReduceLROnPlateau`` under the same resume, because
Lightning 2.6 drops the plateau update of the epoch a checkpoint was saved in (for torch's
own scheduler too).
"""
import glob
import os
import re
import warnings

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install torch)")
import fastlr  # noqa: E402
import fastlr.torch as ft  # noqa: E402
from torch.optim import lr_scheduler as L  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

pytestmark = pytest.mark.torch

#: the validation metric of each epoch (Lightning) / evaluation (Trainer): it plateaus, so
#: patience=1 cuts the lr more than once
VAL = [1.0, 0.9, 0.95, 0.97, 0.99, 0.98, 0.7, 0.8, 0.81, 0.82, 0.83, 0.84, 0.85]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _data(n=32, batch=8):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    y = x.sum(1, keepdim=True)
    return TensorDataset(x, y), batch


# -- Lightning --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pl():
    pl = pytest.importorskip("pytorch_lightning",
                             reason="pytorch-lightning is not installed (pip install "
                                    "'pytorch-lightning==2.6.*')")
    return pl


def _lightning_classes(pl):
    class Tiny(pl.LightningModule):
        """Backbone + head; the validation metric is VAL[epoch], the same for every run."""

        def __init__(self, configure, lr=0.1):
            super().__init__()
            torch.manual_seed(0)
            self.backbone = torch.nn.Linear(4, 4)
            self.head = torch.nn.Linear(4, 1)
            self.configure = configure
            self.lr = lr

        def training_step(self, batch, i):
            x, y = batch
            return torch.nn.functional.mse_loss(self.head(torch.tanh(self.backbone(x))), y)

        def validation_step(self, batch, i):
            self.log("val_loss", torch.tensor(VAL[self.current_epoch], dtype=torch.float32))

        def configure_optimizers(self):
            params = [p for p in self.parameters() if p.requires_grad]
            opt = torch.optim.SGD(params, lr=self.lr, momentum=0.9)
            scheds = self.configure(opt)
            if isinstance(scheds, list):  # several scheduler configs
                return [opt], scheds
            return {"optimizer": opt, "lr_scheduler": scheds}

    class Record(pl.Callback):
        """The lrs of every param group at every update, by global step."""

        def __init__(self):
            self.lrs = {}

        def on_train_batch_start(self, trainer, module, batch, i):
            self.lrs[trainer.global_step] = [float(g["lr"])
                                             for g in trainer.optimizers[0].param_groups]

    return Tiny, Record


def _fit(pl, configure, epochs, *, tmp_path=None, every=None, ckpt_path=None, callbacks=()):
    Tiny, Record = _lightning_classes(pl)
    record = Record()
    cbs = [record, *[make() for make in callbacks]]
    if every:
        cbs.append(pl.callbacks.ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=every,
                                                save_top_k=-1))
    trainer = pl.Trainer(max_epochs=epochs, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=bool(every),
                         callbacks=cbs, num_sanity_val_steps=0, accelerator="cpu", devices=1)
    ds, batch = _data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(Tiny(configure), DataLoader(ds, batch_size=batch),
                    DataLoader(ds, batch_size=batch), ckpt_path=ckpt_path)
    _no_scheduler_warnings(caught)
    return record.lrs


def _no_scheduler_warnings(caught):
    """Lightning and the Trainer warn about many things; the scheduler about none of them
    (no deprecated-epoch warning, no step-order warning, no config mismatch)."""
    ours = [str(w.message) for w in caught
            if re.search(r"epoch parameter|lr_scheduler\.step\(\)|schedule differs|fastlr",
                         str(w.message))]
    assert not ours


def _checkpoints(tmp_path):
    """``{global step: path}`` of the checkpoints ModelCheckpoint wrote."""
    out = {}
    for path in glob.glob(os.path.join(tmp_path, "*.ckpt")):
        out[int(re.search(r"step=(\d+)", path).group(1))] = path
    return out


def _resumed(pl, configure, epochs, tmp_path, every=6):
    """The uninterrupted lrs and, per checkpoint, the lrs of a run resumed from it.
    4 batches per epoch and a checkpoint every 6 updates: step 6 is mid-epoch, step 12
    the end of an epoch."""
    full = _fit(pl, configure, epochs, tmp_path=tmp_path, every=every)
    runs = {step: _fit(pl, configure, epochs, ckpt_path=path)
            for step, path in sorted(_checkpoints(tmp_path).items()) if step < 4 * epochs}
    assert 6 in runs and 12 in runs
    return full, runs


def test_lightning_step_and_epoch_intervals_resume_exactly(pl, tmp_path):
    s = fastlr.warmup_cosine(0.1, 5, 40)
    e = fastlr.Step(0.1, 2, 0.5)
    for interval, sched in (("step", s), ("epoch", e)):
        def configure(opt, sched=sched, interval=interval):
            return {"scheduler": ft.LRScheduler(opt, sched), "interval": interval}
        full, runs = _resumed(pl, configure, 6, tmp_path / interval)
        for step in range(24):  # the schedule's closed form at every update
            t = step if interval == "step" else step // 4
            assert full[step] == [sched(t)]
        for start, lrs in runs.items():
            assert lrs == {k: v for k, v in full.items() if k >= start}, (interval, start)


def _plateau_pair(kind):
    """ours / torch's: an epoch-interval plateau with Lightning's monitor."""
    if kind == "ours":
        def configure(opt):
            return {"scheduler": ft.LRScheduler(opt, fastlr.ReduceOnPlateau(0.1, patience=1)),
                    "interval": "epoch", "reduce_on_plateau": True, "monitor": "val_loss"}
    else:
        def configure(opt):
            return {"scheduler": L.ReduceLROnPlateau(opt, patience=1), "interval": "epoch",
                    "monitor": "val_loss"}
    return configure


def _close(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-12, abs=0), k


def test_lightning_epoch_plateau_as_torch_reduce_lr_on_plateau(pl, tmp_path):
    ours, ours_runs = _resumed(pl, _plateau_pair("ours"), 8, tmp_path / "ours")
    theirs, their_runs = _resumed(pl, _plateau_pair("torch"), 8, tmp_path / "torch")
    _close(ours, theirs)
    assert min(v[0] for v in ours.values()) < 0.01  # two cuts happened
    assert ours_runs.keys() == their_runs.keys()
    for start in ours_runs:  # the same resume, dropped plateau update included
        _close(ours_runs[start], their_runs[start])
    # (Lightning 2.6 skips the plateau update of the epoch it resumes in, mid-epoch or at
    # its end: the resumed lrs then differ from the uninterrupted ones, for torch's too)


def test_lightning_warmup_in_updates_under_a_plateau(pl, tmp_path):
    """One scheduler in two configs: per-update ``step()`` and per-epoch ``step(val_loss)``.
    torch's equivalent is LinearLR (chainable, per update) and ReduceLROnPlateau on the
    same optimizer: the same lrs, uninterrupted and under the same resume."""
    def ours(opt):
        sched = ft.LRScheduler(opt, fastlr.ReduceOnPlateau(
            fastlr.Warmup(fastlr.Constant(0.1), 10, start_lr=0.01), patience=1))
        return [{"scheduler": sched, "interval": "step"},
                {"scheduler": sched, "interval": "epoch", "reduce_on_plateau": True,
                 "monitor": "val_loss"}]

    def theirs(opt):
        return [{"scheduler": L.LinearLR(opt, 0.1, 1.0, total_iters=10), "interval": "step"},
                {"scheduler": L.ReduceLROnPlateau(opt, patience=1), "interval": "epoch",
                 "monitor": "val_loss"}]

    a_full, a_runs = _resumed(pl, ours, 8, tmp_path / "ours")
    b_full, b_runs = _resumed(pl, theirs, 8, tmp_path / "torch")
    _close(a_full, b_full)
    warm = fastlr.Warmup(fastlr.Constant(0.1), 10, start_lr=0.01)
    assert [a_full[t][0] for t in range(8)] == [warm(t) for t in range(8)]  # counted in updates
    assert a_full[31][0] < 0.01  # and cut by the plateau
    for start in a_runs:
        _close(a_runs[start], b_runs[start])


def test_lightning_backbone_finetuning_as_torch_exponential(pl, tmp_path):
    """BackboneFinetuning adds a group at epoch 2 and rewrites its lr at every epoch
    start: the group is rescaled, not overwritten, as torch's chainable ExponentialLR."""
    from pytorch_lightning.callbacks import BackboneFinetuning

    def finetuning():
        return BackboneFinetuning(unfreeze_backbone_at_epoch=2, backbone_initial_ratio_lr=0.1,
                                  verbose=False)

    def ours(opt):
        return {"scheduler": ft.LRScheduler(opt, fastlr.Exponential(0.1, 0.95)),
                "interval": "step"}

    def theirs(opt):
        return {"scheduler": L.ExponentialLR(opt, 0.95), "interval": "step"}

    a = _fit(pl, ours, 6, tmp_path=tmp_path / "a", every=10, callbacks=[finetuning])
    b = _fit(pl, theirs, 6, tmp_path=tmp_path / "b", every=10, callbacks=[finetuning])
    _close(a, b)
    assert len(a[7]) == 1 and len(a[8]) == 2  # the backbone's group arrives at epoch 2
    assert a[8][1] == pytest.approx(0.1 * a[8][0])
    # BackboneFinetuning's own lr (x1.5 per epoch from its previous value) at epoch starts
    assert a[12][1] != pytest.approx(a[11][1] * 0.95)
    for step, path in sorted(_checkpoints(tmp_path / "a").items()):
        resumed = _fit(pl, ours, 6, ckpt_path=path, callbacks=[finetuning])
        their_resumed = _fit(pl, theirs, 6, ckpt_path=_checkpoints(tmp_path / "b")[step],
                             callbacks=[finetuning])
        _close(resumed, their_resumed)
        if step == 10:  # mid-epoch, after the group was added: exact
            assert resumed == {k: v for k, v in a.items() if k >= step}
        # (resumed at the end of epoch 4, step 20, Lightning does not redo
        # BackboneFinetuning's write of epoch 5: the same for torch's scheduler)


# -- transformers Trainer -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hf():
    return pytest.importorskip("transformers", reason="transformers is not installed "
                                                      "(pip install 'transformers==5.*')")


class _Regression(torch.nn.Module):
    """A tiny model the Trainer can drive: ``forward(x, y)`` returns ``{"loss": ...}``."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(),
                                       torch.nn.Linear(8, 1))

    def forward(self, x, y):
        return {"loss": torch.nn.functional.mse_loss(self.net(x), y)}


class _Pairs(torch.utils.data.Dataset):
    def __init__(self, n, seed):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 4, generator=g)
        self.y = torch.sin(self.x.sum(1, keepdim=True)) + 0.3 * torch.randn(n, 1, generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "y": self.y[i]}


def _trainer_run(hf, out_dir, make_schedule, *, max_steps=24, resume=None, plateau=False):
    from transformers import Trainer, TrainerCallback, TrainingArguments

    class FeedPlateau(TrainerCallback):
        """The README recipe: the Trainer sends metrics only to torch's own
        ReduceLROnPlateau, so hand the eval loss to fastlr's scheduler."""

        def __init__(self, scheduler):
            self.scheduler = scheduler

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            self.scheduler.step(metrics["eval_loss"])

    class Record(TrainerCallback):
        def __init__(self, opt):
            self.opt, self.lrs = opt, {}

        def on_step_begin(self, args, state, control, **kwargs):
            self.lrs[state.global_step] = [float(g["lr"]) for g in self.opt.param_groups]

    model = _Regression()
    opt = torch.optim.AdamW([{"params": model.net[0].parameters()},
                             {"params": model.net[2].parameters(), "lr_scale": 0.5}], lr=0.05)
    sched = ft.LRScheduler(opt, make_schedule())
    record = Record(opt)
    callbacks = [record] + ([FeedPlateau(sched)] if plateau else [])
    args = TrainingArguments(
        output_dir=str(out_dir), max_steps=max_steps, per_device_train_batch_size=8,
        per_device_eval_batch_size=64, save_steps=8, save_strategy="steps",
        eval_strategy="steps" if plateau else "no", eval_steps=4, logging_strategy="no",
        report_to=[], use_cpu=True, dataloader_num_workers=0, seed=0, disable_tqdm=True,
        save_only_model=False, label_names=["y"])
    trainer = Trainer(model=model, args=args, train_dataset=_Pairs(64, 0),
                      eval_dataset=_Pairs(64, 1) if plateau else None,
                      optimizers=(opt, sched), callbacks=callbacks)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.train(resume_from_checkpoint=resume)
    _no_scheduler_warnings(caught)
    return record.lrs, sched


@pytest.mark.parametrize("plateau", [False, True], ids=["warmup_cosine", "plateau_warmup"])
def test_transformers_trainer_resumes_exactly(hf, tmp_path, plateau):
    cosine = fastlr.warmup_cosine(0.05, 6, 24)

    def schedule():  # a new plateau object per run, as in a new process
        if plateau:
            return fastlr.ReduceOnPlateau(fastlr.warmup_linear(0.05, 6, 40), patience=0,
                                          factor=0.5)
        return cosine
    full, sched = _trainer_run(hf, tmp_path / "full", schedule, plateau=plateau)
    assert sorted(full) == list(range(24))
    if plateau:
        plateau_obj = sched.schedules[0]
        assert plateau_obj.num_updates == 6 and plateau_obj.scale < 1.0  # metrics arrived, cut
    else:
        assert [v[0] for v in full.values()] == [cosine(t) for t in range(24)]
    assert all(v[1] == v[0] * 0.5 for v in full.values())
    for step in (8, 16):
        ckpt = os.path.join(tmp_path / "full", f"checkpoint-{step}")
        resumed, sched2 = _trainer_run(hf, tmp_path / f"resumed{step}", schedule,
                                       resume=ckpt, plateau=plateau)
        assert resumed == {k: v for k, v in full.items() if k >= step}, step
        if plateau:
            assert sched2.schedules[0].state_dict() == plateau_obj.state_dict()
