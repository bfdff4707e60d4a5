"""`perfwatch run`: the main job."""

from __future__ import annotations

import argparse
import json
import os
import sys

from perfwatch.cli import argtypes
from perfwatch.commands.common import add_case_selection, add_db, config, engine, push_spool
from perfwatch.commands.runs import close_stale_runs
from perfwatch.domain.errors import (EXIT_CASES_FAILED, EXIT_GATE_UNAVAILABLE, EXIT_INTERRUPTED, EXIT_OK,
                                     EXIT_REGRESSION, EXIT_RESULTS_LOST, UsageError)
from perfwatch.domain.vocab import REFERENCES


def register(sub) -> None:
    run = sub.add_parser("run", help="run a suite and store every figure")
    add_case_selection(run)
    run.add_argument("--timeout", type=float, default=None, help="seconds per case, compile included (default 900)")
    run.add_argument("--min-time", type=float, default=None, help="seconds of timed steps per case (default 1)")
    run.add_argument("--max-time", type=float, default=None, metavar="S",
                     help="sample a noisy step on, up to S seconds, until --precision is met (default 5 x --min-time)")
    run.add_argument("--precision", type=float, default=None, metavar="F",
                     help="target: the step time's 95%% CI within +-F of it (default 0.01)")
    run.add_argument("--processes", type=int, default=None, metavar="N",
                     help="fresh worker processes per case; step time = median of their medians (default 1)")
    run.add_argument("--interleave", action=argparse.BooleanOptionalAction, default=None,
                     help="with --processes N: run each case's processes spread over the whole run (round by round) "
                          "instead of back to back; cases are stored at the end of the run (default: off)")
    run.add_argument("--threads", type=int, default=None, metavar="N",
                     help="torch intra-op threads per worker (default: torch's, one per core); "
                          "fewer than the cores keeps a shared CPU runner's timings steady")
    run.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="label the run (repeatable)")
    run.add_argument("--no-accuracy", action="store_true", help="skip the eager and float64 accuracy references")
    run.add_argument("--reference", choices=REFERENCES, default=None,
                     help="where the float64 accuracy reference is built: device, cpu (an independent check: eager "
                          "cases are judged against it too) or auto (the device where it has float64, else cpu; "
                          "the default; reference in the config, $PERFWATCH_REFERENCE)")
    run.add_argument("--warm-compile", action=argparse.BooleanOptionalAction, default=None,
                     help="compiled modes: a second, build-only worker compiles again over the cold compile's "
                          "caches (compile_time_warm; default: on; warm_compile in the config)")
    run.add_argument("--compile-instructions", action="store_true",
                     help="compiled modes: count the compile's instructions under callgrind (valgrind; slow)")
    run.add_argument("--batch-search", action=argparse.BooleanOptionalAction, default=None,
                     help="train benchmarks: find the largest batch that fits under --batch-memory-cap and the "
                          "throughput at the batches tried (max_batch, throughput_at_batch_N; default: off; "
                          "batch_search in the config)")
    run.add_argument("--batch-search-budget", type=argtypes.seconds, default=None, metavar="S",
                     help="seconds per case for the batch search; a search cut short says so and stores no "
                          "max_batch (default: 60 on cpu, 300 on cuda)")
    run.add_argument("--batch-memory-cap", type=argtypes.memory_cap, default=None, metavar="SIZE|FRACTION",
                     help="the batch search's memory cap: a size (256MiB, 40GiB) or a fraction of the device's "
                          "memory up to 0.9 (default: 256MiB of torch's allocations on cpu, 0.5 of the GPU on cuda)")
    run.add_argument("--json", action="store_true", help="print the run as JSON on stdout instead of a table")
    run.add_argument("--profile", action="store_true", help="record a short torch.profiler trace per case (TensorBoard)")
    run.add_argument("--profile-dir", default=None, help="trace log dir (default: <perfwatch home>/traces)")
    run.add_argument("--fail-on-regression", action="store_true",
                     help="exit 1 when this run regressed against the stored history (a CI gate)")
    run.add_argument("--no-detect", action="store_true", help="do not judge the run against its history")
    run.add_argument("--alpha", type=float, default=None, metavar="P",
                     help="gate: chance that a clean run raises any false alarm at all (default 0.01)")
    run.add_argument("--min-effect", type=float, default=None, metavar="F",
                     help="gate: smallest relative change ever flagged (default 0.01 = 1%%)")
    run.add_argument("--baseline-runs", type=int, default=None, metavar="N",
                     help="gate: earlier runs the baseline is made of (default 20; at least 3 judge)")
    run.add_argument("--notify", action="store_true",
                     help="post regressions not yet announced to every configured alert channel "
                          "($PERFWATCH_SLACK_WEBHOOK, $PERFWATCH_WEBHOOK_URL)")
    run.add_argument("--announce-resolved", action="store_true", help="with --notify: also announce resolved regressions")
    add_db(run)
    run.set_defaults(handler=cmd_run)


def gate_config(args: argparse.Namespace):
    """The gate's settings from the flags, checked before anything runs (exit 2 on nonsense)."""
    from perfwatch.analysis.gate import GateConfig

    values = {k: v for k, v in (("alpha", args.alpha), ("min_effect", args.min_effect),
                                ("baseline", args.baseline_runs)) if v is not None}
    try:
        return GateConfig(**values)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def parse_tags(items: list[str]) -> dict[str, str]:
    tags = {}
    for t in items:
        if "=" not in t:
            raise UsageError(f"--tag {t!r}: expected KEY=VALUE")
        k, v = t.split("=", 1)
        tags[k] = v
    return tags


def profile_dir(args: argparse.Namespace) -> str | None:
    """--profile's log dir, absolute (the worker runs elsewhere); None without --profile."""
    if not (args.profile or args.profile_dir):
        return None
    from perfwatch.domain.config import default_home

    return os.path.abspath(os.path.expanduser(args.profile_dir or str(default_home() / "traces")))


def cmd_run(args: argparse.Namespace) -> int:
    from perfwatch.measure import runner
    from perfwatch.cli.progress import Progress
    from perfwatch.store import spool
    from perfwatch.store.sink import StoreSink
    from perfwatch.store.engine import describe
    from perfwatch.cli.summary import summary_table

    cfg = config(args, timeout_s=args.timeout, min_time_s=args.min_time, processes=args.processes,
                 max_time_s=args.max_time, precision=args.precision, threads=args.threads, interleave=args.interleave,
                 warm_compile=args.warm_compile, reference=args.reference, batch_search=args.batch_search,
                 batch_search_budget_s=args.batch_search_budget, batch_memory_cap=args.batch_memory_cap)
    runner.check_interleave(cfg.processes, cfg.interleave)
    req = runner.RunRequest(
        suite=args.suite, backend=args.backend, modes=runner.parse_modes(args.modes),
        benchmarks=tuple(b.strip() for b in args.benchmarks.split(",") if b.strip()),
        size=args.size, dtype=args.dtype, tags=parse_tags(args.tag), accuracy=not args.no_accuracy,
        profile_dir=profile_dir(args), warm_compile=cfg.warm_compile,
        compile_instructions=args.compile_instructions, reference=cfg.reference, batch_search=cfg.batch_search,
    )
    # Everything checked before the first case: suite, benchmarks, modes, backend, database.
    gate_cfg = gate_config(args)
    plan = runner.plan(req, cfg)
    targets = None
    if args.notify:  # no channel configured is a configuration error: fail before anything runs
        from perfwatch.alerts.channels import from_config

        targets = from_config(cfg)
    eng = engine(cfg, write=True)  # stores results: creates or migrates the schema
    push_spool(eng, cfg)
    close_stale_runs(eng)  # runs of runners killed outright (kill -9) end as interrupted, not running forever
    run = runner.new_run_info(plan, req)
    if plan.skipped:
        print(f"skipping (not for {plan.backend}): {', '.join(plan.skipped)}", file=sys.stderr)
    print(f"run {run.run_id}: suite {plan.suite.name}, backend {plan.backend}, size {plan.size}, "
          f"{len(plan.specs)} case(s) -> {describe(cfg.resolved_db_url())}", file=sys.stderr)
    progress = Progress(len(plan.specs), specs=plan.specs)
    sink = StoreSink(eng, spool.spool_path(cfg.resolved_spool_dir(), cfg.resolved_db_url()))
    outcome = runner.execute(plan, run, sink, cfg.timeout_s, on_start=progress.start, on_end=progress.end,
                             processes=cfg.processes, interleave=cfg.interleave, on_repeat=progress.repeat)

    verdicts = []
    if not args.no_detect and not outcome.spooled and not outcome.lost:
        from perfwatch.analysis.gate import run_gate

        verdicts = run_gate(eng, run.run_id, gate_cfg)
    regressions = [v for v in verdicts if v.flagged]

    if args.json:
        doc = {"run": {k: v for k, v in run.to_dict().items() if k != "environment"},
               "cases": [{**{k: v for k, v in c.to_dict().items() if k != "metrics"},
                          "metrics": [{k: v for k, v in m.to_dict().items() if k != "samples"} for m in c.metrics]}
                         for c in outcome.cases],
               "regressions": [v.to_dict() for v in regressions], "verdicts": [v.to_dict() for v in verdicts],
               "gate": {"alpha": gate_cfg.alpha, "min_effect": gate_cfg.min_effect, "baseline_runs": gate_cfg.baseline},
               "spooled": outcome.spooled, "lost": list(outcome.lost), "interrupted": outcome.interrupted}
        json.dump(doc, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(summary_table(outcome.cases))
        for c in outcome.failed + outcome.unsupported:  # each with its reason
            print(f"  {c.spec.benchmark} [{c.spec.mode}] {c.status}: {(c.error or '').splitlines()[0] if c.error else ''}")
        n_unsupported = len(outcome.unsupported)
        ok = len(outcome.cases) - len(outcome.failed) - n_unsupported
        print(f"run {run.run_id}: {ok}/{len(outcome.cases)} case(s) ok"
              + (f", {n_unsupported} unsupported" if n_unsupported else ""))
        if verdicts:
            from perfwatch.cli.gate_lines import verdict_lines

            for line in verdict_lines(verdicts, gate_cfg):
                print(line)
    if req.profile_dir:
        print(f"profiler traces: {req.profile_dir}/{run.run_id} (tensorboard --logdir {req.profile_dir})", file=sys.stderr)
    if outcome.spooled:
        print(f"perfwatch: {outcome.spooled} result(s) kept in the spool, not in the database"
              + (f" ({outcome.db_error})" if outcome.db_error else "")
              + "; `perfwatch push` (or the next run) writes them", file=sys.stderr)
    if outcome.lost:  # measured, but neither the database nor the spool would keep them: say what and why
        print(f"perfwatch: {len(outcome.lost)} result(s) could not be kept and are lost: {', '.join(outcome.lost)}; "
              f"the database: {outcome.db_error or 'refused'}; the spool: {outcome.spool_error or 'refused'}"
              + ("; their figures are above" if not args.json else ""), file=sys.stderr)
    if targets is not None and not outcome.spooled and not outcome.lost:
        from perfwatch.alerts.notify import notify_pending

        result = notify_pending(eng, targets, cfg.dashboard_url, args.announce_resolved)
        print(result.summary(), file=sys.stderr)
        for err in result.errors:  # alerts stay pending: the next notify sends them
            print(f"perfwatch: alert not sent: {err}", file=sys.stderr)
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    if outcome.lost:
        if args.fail_on_regression:
            print("perfwatch: the gate could not run (results lost)", file=sys.stderr)
        return EXIT_RESULTS_LOST  # worse than an unjudged gate: some of this run is gone
    if args.fail_on_regression and outcome.spooled:
        # the results are not in the database: the gate could not judge, and a pass is not earned
        print("perfwatch: the gate could not run (results spooled, not in the database)", file=sys.stderr)
        return EXIT_GATE_UNAVAILABLE
    if args.fail_on_regression and regressions:
        return EXIT_REGRESSION  # the gate's answer wins over failed cases: it is what CI asked
    return EXIT_CASES_FAILED if outcome.failed else EXIT_OK
