"""The cluster deployment files parse and say what the README says they do. None of them has
run on a real cluster here: the Slurm script, the KubeRay RayJob and the nightly workflow are
checked for their syntax and their fields only."""

import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_the_slurm_script_parses_and_starts_ray_then_runs_the_spec_on_it():
    script = ROOT / "scripts" / "slurm_ray.sbatch"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert "#SBATCH --nodes=" in text and "ray\" start --head" in text and "ray\" start --address" in text
    assert "--llama-executor ray --llama-ray-address \"$address\"" in text


def test_the_rayjob_runs_the_spec_on_the_cluster_it_defines():
    job = yaml.safe_load((ROOT / "deploy" / "kuberay-rayjob.yaml").read_text())
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    assert "--llama-executor ray" in job["spec"]["entrypoint"] and "pytest specs/" in job["spec"]["entrypoint"]
    cluster = job["spec"]["rayClusterSpec"]
    workers = cluster["workerGroupSpecs"][0]
    limits = workers["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert int(limits["nvidia.com/gpu"]) == int(workers["rayStartParams"]["num-gpus"]) == 8
    mounts = [c["volumeMounts"][0]["mountPath"] for c in
              [cluster["headGroupSpec"]["template"]["spec"]["containers"][0], workers["template"]["spec"]["containers"][0]]]
    assert mounts == ["/shared", "/shared"] and "/shared/generations" in job["spec"]["entrypoint"]


def test_the_nightly_workflow_runs_the_gpu_cells_on_a_self_hosted_gpu_runner_and_publishes_per_sha():
    flow = yaml.safe_load((ROOT / ".github" / "workflows" / "nightly-gpu.yml").read_text())
    on = flow.get("on") or flow.get(True)          # YAML 1.1 reads a bare `on` as true
    assert on["schedule"][0]["cron"] and "workflow_dispatch" in on
    job = flow["jobs"]["gpu-cells"]
    assert {"self-hosted", "gpu"} <= set(job["runs-on"])
    runs = " ".join(step.get("run", "") for step in job["steps"])
    assert "-m gpu" in runs and "--llama-executor ray" in runs and "nightly-${{ github.sha }}" in runs
    upload = next(step for step in job["steps"] if step.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["name"] == "report-${{ github.sha }}" and upload["if"] == "always()"
