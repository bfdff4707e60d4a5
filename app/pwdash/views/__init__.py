"""One module per view; each has ``render(url)``. The ``?view=`` query parameter picks one."""

from pwdash.views import batch, compare, compile_health, memory, overview, regressions, trends

VIEWS = {
    "overview": ("Overview", overview),
    "trends": ("Trends", trends),
    "compare": ("Compare", compare),
    "compile": ("Compile health", compile_health),
    "memory": ("Memory and UVM", memory),
    "batch": ("Batch search", batch),
    "regressions": ("Regressions", regressions),
}
