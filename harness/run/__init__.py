"""Running a scenario: configuration, plug-ins, the scenario runner and its helpers.

``config`` is the one typed configuration object and its layering (defaults, pyproject,
file, flags); ``plugins`` loads and checks a user's components against the ports;
``scenario`` defines what a scenario is and executes one (run -> history -> judge);
``guard`` turns an error inside a run into a failed verdict line; ``schedules`` and
``workloads`` run a scenario under controlled schedules; ``crash`` kills and recovers a
run; ``drain`` writes what a run kept while a service was down.
"""
