"""The sandbox: an offline KushRouter-compatible API on loopback, its sample data, and the demo.

Only the CLI and the demo use it; product code never does. Tests take its sample data from
`samples`, start it with `runner.run_sandbox` and steer its faults through `api.SandboxState`.
`processes` starts servers and the sandbox as child processes for the tests, benches, CI and demo.
"""
