"""The SPEC parser: JSON and compact calls build schedules; anything else is refused."""
import json

import pytest

from fastlr.tools.spec import MAX_LENGTH, SpecError, parse_spec, spec_names


def test_compact_helper(fl):
    s = parse_spec("warmup_cosine(peak_lr=3e-4, warmup_steps=500, total_steps=10000)", fl)
    assert s == fl.warmup_cosine(3e-4, 500, 10000)
    assert type(s) is fl.Warmup


def test_compact_positional_nested_and_lists(fl):
    s = parse_spec("Warmup(Cosine(0.1, 1000), warmup_steps=100, mode='cosine')", fl)
    assert s == fl.Warmup(fl.Cosine(0.1, 1000), 100, mode="cosine")
    s = parse_spec("Sequence([Constant(0.1), Linear(0.1, 0.0, 10)], boundaries=[5])", fl)
    assert s == fl.Sequence([fl.Constant(0.1), fl.Linear(0.1, 0.0, 10)], [5])
    s = parse_spec("MultiStep(lr=1, milestones=(2, 4), gamma=0.5)", fl)
    assert s(4) == 0.25
    s = parse_spec("Exponential(0.1, 0.5, staircase=True, final_lr=None)", fl)
    assert s == fl.Exponential(0.1, 0.5, staircase=True)


def test_json_form_round_trips(fl):
    s = fl.OneCycle(0.1, 1000, three_phase=True)
    assert parse_spec(json.dumps(s.to_config()), fl) == s
    assert parse_spec("  " + json.dumps(fl.Cosine(0.1, 10).to_config()) + "\n", fl) == \
        fl.Cosine(0.1, 10)


def test_default_backend_is_compiled():
    import fastlr
    assert type(parse_spec("Cosine(0.1, 10)")) is fastlr.Cosine


def test_names_exclude_lambda():
    names = spec_names()
    assert "Lambda" not in names and "Cosine" in names and "warmup_linear" in names


@pytest.mark.parametrize("text, words", [
    ("__import__('os').system('true')", "not a fastlr schedule"),
    ("os.system('true')", "not a fastlr schedule"),
    ("Lambda(print)", "not a fastlr schedule"),
    ("Cosine(lr=1e-1 * 2, total_steps=10)", "must be numbers"),
    ("Cosine(lr=x, total_steps=10)", "must be numbers"),
    ("Cosine(lr=(lambda: 1)(), total_steps=10)", "not a fastlr schedule"),
    ("Cosine(lr={'a': 1}, total_steps=10)", "must be numbers"),
    ("Cosine(lr=b'1', total_steps=10)", "must be numbers"),
    ("Cosine(*[0.1, 10])", r"\*args"),
    ("Cosine(**{'lr': 0.1})", r"\*\*kwargs"),
    ("Cosine(0.1)", "missing a required argument"),
    ("Cosine(0.1, 10, foo=1)", "unexpected keyword"),
    ("Cosine(", "not valid"),
    ("Cosine(0.1, 10); Constant(1)", "not valid"),
    ("0.1", "must be a schedule call"),
    ("[Cosine(0.1, 10)]", "must be a schedule call"),
    ("", "empty"),
    ("{not json", "not valid JSON"),
    ("[" * 100_000, "too long"),
])
def test_bad_specs_are_refused(fl, text, words):
    with pytest.raises(SpecError, match=words):
        parse_spec(text, fl)


def test_deep_nesting_is_refused_cleanly(fl):
    text = "Cosine(" + "[" * 3000 + "]" * 3000 + ", 10)"
    assert len(text) <= MAX_LENGTH
    with pytest.raises(ValueError):
        parse_spec(text, fl)


def test_schedule_errors_pass_through(fl):
    # the schedule's own check names the parameter
    with pytest.raises(ValueError, match="lr must be >= 0"):
        parse_spec("Cosine(lr=-0.1, total_steps=10)", fl)
    with pytest.raises(ValueError, match="class"):
        parse_spec('{"class": "Nope"}', fl)


def test_non_string(fl):
    with pytest.raises(TypeError, match="SPEC must be a str"):
        parse_spec(3, fl)


# ---- hostile SPECs (issue 10) ---------------------------------------------------------

@pytest.mark.parametrize("text, words", [
    ("Cosine(lr=0.1, total_steps=10, total_steps=20)",
     "repeats the keyword 'total_steps' in Cosine()"),
    ("Warmup(Cosine(0.1, 10, lr=1), warmup_steps=3)", "bad arguments for Cosine()"),
    ("Warmup(Cosine(0.1, 10), warmup_steps=3, warmup_steps=4)",
     "repeats the keyword 'warmup_steps' in Warmup()"),
    ('{"class": "Cosine", "lr": 0.1, "total_steps": 10, "total_steps": 20}',
     "repeats the key 'total_steps' in a JSON object"),
    ('{"class": "Warmup", "schedule": {"class": "Constant", "lr": 1, "lr": 2}, '
     '"warmup_steps": 2}', "repeats the key 'lr'"),
])
def test_repeated_keywords_and_keys_are_refused(fl, text, words):
    with pytest.raises(SpecError, match=words):
        parse_spec(text, fl)


def test_huge_int_literals_are_refused_with_a_digit_count(fl):
    hex_lit = "0x" + "f" * 5000                  # 6021 decimal digits: no repr possible
    for text in (f"Cosine(lr={hex_lit}, total_steps=10)",
                 f"Cosine(lr=-{hex_lit}, total_steps=10)",
                 f"MultiStep(0.1, milestones=[1, {hex_lit}])"):
        with pytest.raises(SpecError, match=r"integer literal of 6021 digits at column \d+; "
                                            r"at most 309"):
            parse_spec(text, fl)
    with pytest.raises(SpecError, match="integer literal of 310 digits"):
        parse_spec("Cosine(lr=1" + "0" * 309 + ", total_steps=10)", fl)
    with pytest.raises(SpecError, match="integer of 5000 digits"):
        parse_spec('{"class": "Cosine", "lr": ' + "9" * 5000 + ', "total_steps": 10}', fl)
    with pytest.raises(SpecError, match="integer literal of 5000 digits; at most 309"):
        parse_spec("Cosine(lr=" + "9" * 5000 + ", total_steps=10)", fl)   # (Python refuses it)
    # 309 digits is accepted by the parser, and the schedule's own check says why not
    with pytest.raises(ValueError, match="lr must be finite"):
        parse_spec("Cosine(lr=1" + "0" * 308 + ", total_steps=10)", fl)


def test_nesting_is_bounded(fl):
    from fastlr.tools.spec import MAX_DEPTH
    ok = "Scaled(" * (MAX_DEPTH - 1) + "Constant(1)" + ", 2)" * (MAX_DEPTH - 1)
    assert parse_spec(ok, fl)(0) == 2.0 ** (MAX_DEPTH - 1)
    deep = "Scaled(" * MAX_DEPTH + "Constant(1)" + ", 2)" * MAX_DEPTH
    with pytest.raises(SpecError, match=f"nested too deeply \\(at most {MAX_DEPTH}"):
        parse_spec(deep, fl)
    with pytest.raises(SpecError, match="nested too deeply"):
        parse_spec("MultiStep(0.1, " + "[" * 40 + "1" + "]" * 40 + ")", fl)
    config = {"class": "Constant", "lr": 1.0}
    for _ in range(MAX_DEPTH):
        config = {"class": "Scaled", "schedule": config, "factor": 1.0}
    with pytest.raises(SpecError, match="nested too deeply"):
        parse_spec(json.dumps(config), fl)
    with pytest.raises(SpecError, match="nested too deeply"):
        parse_spec('{"a": ' + "[" * 4000 + "]" * 4000 + "}", fl)


@pytest.mark.parametrize("text", [
    "Cosine('\udcff', 10)",          # a lone surrogate (from a non-UTF-8 argv)
    "Cosine(\x00)",
    "-" * 5000 + "1",                # the parser's own stack
    "Cosine(lr=" + "x" * 9000 + ", total_steps=1)",
])
def test_messages_are_short_and_one_line(fl, text):
    with pytest.raises(SpecError) as info:
        parse_spec(text, fl)
    message = str(info.value)
    assert "\n" not in message and len(message) < 400
