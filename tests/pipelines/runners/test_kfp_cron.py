"""pipelines/runners/kfp_cron.py: the cron grammar KFP parses (robfig/cron v1.2.0's
`Parse`), checked with the cases of robfig's own parser_test.go (TestRange, TestParse),
and the two refusals added on top."""
import pytest

from pipelines.runners import kfp_cron


@pytest.mark.parametrize("expr, low, high", [
    ("5", 0, 7), ("0", 0, 7), ("7", 0, 7), ("5-5", 0, 7), ("5-6", 0, 7), ("5-7", 0, 7),
    ("5-6/2", 0, 7), ("5-7/2", 0, 7), ("5-7/1", 0, 7), ("*", 1, 3), ("*/2", 1, 3),
])
def test_ranges_robfig_accepts(expr, low, high):
    kfp_cron._check_range(expr, low, high, None)  # pylint: disable=protected-access


@pytest.mark.parametrize("expr, low, high, names, message", [
    ("5--5", 0, 0, None, "too many hyphens"),
    ("jan-x", 0, 0, None, "'jan' is not a number"),
    ("2-x", 1, 5, None, "'x' is not a number"),
    ("*/-12", 0, 0, None, "negative number -12"),
    ("*//2", 0, 0, None, "too many slashes"),
    ("1", 3, 5, None, "starts below 3"),
    ("6", 3, 5, None, "ends above 5"),
    ("5-3", 3, 5, None, "starts after it ends"),
    ("*/0", 0, 0, None, "the step must be positive"),
    ("jun-mon", 1, 12, {"jun": 6}, "'mon' is not a number or one of JUN"),
])
def test_ranges_robfig_refuses(expr, low, high, names, message):
    with pytest.raises(kfp_cron.CronError, match=message):
        kfp_cron._check_range(expr, low, high, names)  # pylint: disable=protected-access


@pytest.mark.parametrize("expression", [
    "* 5 * * * *", "0 0 3 * * *", "0 30 2 * * MON-FRI", "0 0 0 1 jan,Jul ?",
    "*/10 * * * * *", "0 0 0 ? * sun", "0 1,5-7/2,3 * * * *", "0 0 12 1-31/2 * *",
    "@every 5m", "@every 1h30m10s", "@every 1.5h", "@yearly", "@annually", "@monthly",
    "@weekly", "@daily", "@midnight", "@hourly",
])
def test_expressions_kfp_runs(expression):
    assert kfp_cron.check_cron(expression) == expression


@pytest.mark.parametrize("expression, message", [
    ("* 5 j * * *", "hour field \\(0-23\\): 'j' is not a number"),
    ("@every Xm", "'Xm' is not a Go duration"),
    ("@unrecognized", "unknown descriptor '@unrecognized'"),
    ("* * * *", "has 4 field\\(s\\); KFP's cron has 6: second minute hour"),
    ("", "empty cron expression"),
    ("0 0 0 * * * *", "has 7 field"),
    ("0 0 0 * 13 *", "month field \\(1-12\\): '13' ends above 12"),
    ("0 0 0 0 * *", "day of month field \\(1-31\\): '0' starts below 1"),
    ("0 0 0 * * 7", "day of week field \\(0-6\\): '7' ends above 6"),
    ("60 * * * * *", "second field \\(0-59\\)"),
])
def test_expressions_kfp_refuses(expression, message):
    with pytest.raises(kfp_cron.CronError, match=message):
        kfp_cron.check_cron(expression)


@pytest.mark.parametrize("expression, message", [
    # robfig takes five fields as second..month: minute 3 of every hour, not 03:00.
    ("0 3 * * *", "5 fields: KFP's cron has a seconds field first and would read it as "
                  "second=0 minute=3 hour=\\* day-of-month=\\* month=\\*; for the crontab "
                  "schedule write '0 0 3 \\* \\* \\*'"),
    ("1,,2 * * * * *", "second field \\(0-59\\): empty item in '1,,2'"),
    ("@every 0s", "the interval must be positive"),
    ("@every -1h", "the interval must be positive"),
])
def test_expressions_kfp_would_misread_are_refused(expression, message):
    with pytest.raises(kfp_cron.CronError, match=message):
        kfp_cron.check_cron(expression)
