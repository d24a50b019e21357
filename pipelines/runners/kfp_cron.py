"""Cron expressions as Kubeflow Pipelines reads them, checked before a recurring run is
created.

KFP's API server and its ScheduledWorkflow controller parse a recurring run's cron with
`cron.Parse` of github.com/robfig/cron v1.2.0 (backend/src/apiserver/server/
api_converter.go; backend/src/crd/controller/scheduledworkflow/util/cron_schedule.go).
That parser (parser.go, `defaultParser`) reads SIX fields, seconds first:

    second minute hour day-of-month month [day-of-week]

with `*`, `?`, lists `a,b`, ranges `a-b`, steps `*/n`, `a/n`, `a-b/n`, month and weekday
names (JAN-DEC, SUN-SAT, any case), and the descriptors `@yearly`, `@annually`,
`@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly` and `@every <Go duration>`.
`check_cron` is a port of that grammar (`Parser.Parse`, `getRange`, `parseDescriptor`)
with two refusals robfig does not make:

- five fields. robfig's day-of-week is optional, so KFP takes a crontab line such as
  `0 3 * * *` as second 0, minute 3, every hour: 24 runs a day where one was meant.
- a list with an empty item (`1,,2`, which robfig skips) and `@every` of zero or less
  (which robfig runs every second): both are typing mistakes, not schedules.
"""
from __future__ import annotations

import re
from typing import Dict, Optional, Tuple

# (name, lowest, highest, names) of the six fields, robfig/cron v1.2.0 spec.go `bounds`.
_MONTHS = {m: i + 1 for i, m in enumerate(
    "jan feb mar apr may jun jul aug sep oct nov dec".split())}
_WEEKDAYS = {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}
FIELDS: Tuple[Tuple[str, int, int, Optional[Dict[str, int]]], ...] = (
    ("second", 0, 59, None), ("minute", 0, 59, None), ("hour", 0, 23, None),
    ("day of month", 1, 31, None), ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _WEEKDAYS))
DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight",
               "@hourly")
EVERY = "@every "
# Go's time.ParseDuration: an optional sign, then numbers each with a unit.
_DURATION = re.compile(r"[-+]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+")
_DURATION_PART = re.compile(r"([0-9]*\.?[0-9]*)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0,
                 "m": 60.0, "h": 3600.0}
# strconv.Atoi: an optional sign and decimal digits.
_INT = re.compile(r"[-+]?[0-9]+")
EXAMPLE = "0 0 3 * * *"  # every day at 03:00:00


class CronError(ValueError):
    """A cron expression KFP would refuse, or read as another schedule than meant."""


def _number(text: str, names: Optional[Dict[str, int]]) -> int:
    """robfig's parseIntOrName / mustParseInt."""
    if names and text.lower() in names:
        return names[text.lower()]
    if not _INT.fullmatch(text):
        raise CronError(f"{text!r} is not a number" + (
            f" or one of {', '.join(n.upper() for n in names)}" if names else ""))
    if int(text) < 0:
        raise CronError(f"negative number {text}")
    return int(text)


def _check_range(expr: str, low: int, high: int, names: Optional[Dict[str, int]]) -> None:
    """robfig's getRange: `*`/`?`, `n`, `a-b`, each with an optional `/step`."""
    range_and_step = expr.split("/")
    if len(range_and_step) > 2:
        raise CronError(f"too many slashes in {expr!r}")
    low_and_high = range_and_step[0].split("-")
    if low_and_high[0] in ("*", "?"):
        start, end = low, high
    else:
        if len(low_and_high) > 2:
            raise CronError(f"too many hyphens in {expr!r}")
        start = _number(low_and_high[0], names)
        end = _number(low_and_high[1], names) if len(low_and_high) == 2 else start
    step = 1
    if len(range_and_step) == 2:
        step = _number(range_and_step[1], None)
        if len(low_and_high) == 1:  # "n/step" means "n-highest/step"
            end = high
    if start < low:
        raise CronError(f"{expr!r} starts below {low}")
    if end > high:
        raise CronError(f"{expr!r} ends above {high}")
    if start > end:
        raise CronError(f"{expr!r} starts after it ends")
    if step == 0:
        raise CronError(f"{expr!r}: the step must be positive")


def _duration_seconds(text: str) -> float:
    """Go's time.ParseDuration, in seconds ("0" alone needs no unit)."""
    if text in ("0", "+0", "-0"):
        return 0.0
    if not _DURATION.fullmatch(text):
        raise CronError(f"{text!r} is not a Go duration such as 1h30m, 90m or 45s")
    sign = -1.0 if text.startswith("-") else 1.0
    return sign * sum(float(number) * _UNIT_SECONDS[unit]
                      for number, unit in _DURATION_PART.findall(text.lstrip("+-")))


def check_cron(expression: str) -> str:
    """Returns `expression` if KFP runs it as written; raises CronError saying why not."""
    if not expression:
        raise CronError("empty cron expression")
    if expression.startswith("@"):
        if expression in DESCRIPTORS:
            return expression
        if expression.startswith(EVERY):
            if _duration_seconds(expression[len(EVERY):]) <= 0:
                raise CronError(f"{expression!r}: the interval must be positive")
            return expression
        raise CronError(f"unknown descriptor {expression!r}; KFP knows "
                        f"{', '.join(DESCRIPTORS)} and '@every <duration>'")
    fields = expression.split()
    if len(fields) == 5:
        read_as = " ".join(f"{name.replace(' ', '-')}={value}"
                           for (name, *_), value in zip(FIELDS, fields))
        raise CronError(
            f"{expression!r} has 5 fields: KFP's cron has a seconds field first and would "
            f"read it as {read_as}; for the crontab schedule write '0 {expression}'")
    if len(fields) != 6:
        raise CronError(f"{expression!r} has {len(fields)} field(s); KFP's cron has 6: "
                        f"second minute hour day-of-month month day-of-week (e.g. "
                        f"'{EXAMPLE}': every day at 03:00:00)")
    for value, (name, low, high, names) in zip(fields, FIELDS):
        for item in value.split(","):
            try:
                if not item:
                    raise CronError(f"empty item in {value!r}")
                _check_range(item, low, high, names)
            except CronError as e:
                raise CronError(f"{expression!r}: {name} field ({low}-{high}): {e}") from None
    return expression
