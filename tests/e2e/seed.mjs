// Realistic tasks for screenshots and manual looks: the seed design's
// examples (a Docker pull in bytes, a benchmark with substeps, a finished
// training run) and every state a card can be in.
import { sleep } from "./lib.mjs";

export async function seedDemo(d) {
  const api = d.api.bind(d);
  const ids = {};

  // Finished history first (older ids), so the charts have data.
  for (let i = 0; i < 18; i++) {
    const kind = ["docker_pull", "benchmark_run", "training", "data_transfer"][i % 4];
    const t = await api("POST", "/api/tasks", { title: `${kind} #${i}`, kind, heartbeat_timeout_s: 0 });
    await api("PATCH", `/api/tasks/${t.id}`, i % 6 === 5
      ? { state: "failed", error: "Timeout waiting for Settings window" }
      : { state: "completed", result: { ok: true } });
  }

  const train = await api("POST", "/api/tasks", {
    title: "Training: turn-off-nightshift", kind: "training", heartbeat_timeout_s: 0,
    metadata: { instance: "gpu_1x_a10", epochs: 4 },
  });
  await api("POST", `/api/tasks/${train.id}/logs`, { lines: ["epoch 1 loss 0.61", "epoch 2 loss 0.33", "epoch 3 loss 0.19", "epoch 4 loss 0.12"] });
  await api("PATCH", `/api/tasks/${train.id}`, { progress: 100, state: "completed", message: "Final loss: 0.12 • 4 epochs", result: { final_loss: 0.12, epochs: 4 } });
  ids.train = train.id;

  const fail = await api("POST", "/api/tasks", { command: { argv: ["sh", "-c", "echo fetching manifest; sleep 0.2; echo 'error: manifest unknown' >&2; exit 3"] }, title: "Pull mcr.microsoft.com/windows:ltsc2022", kind: "docker_pull" });
  ids.fail = fail.id;

  await api("PUT", "/api/groups/gpu", { parallel: 1 });
  const gpu1 = await api("POST", "/api/tasks", { command: { argv: ["sleep", "600"] }, title: "Fine-tune qwen3vl-2b (epoch 6)", kind: "training", group: "gpu" });
  const gpu2 = await api("POST", "/api/tasks", { command: { argv: ["sleep", "600"] }, title: "Evaluate checkpoint epoch-6", kind: "benchmark_run", group: "gpu", priority: "high" });
  ids.gpu1 = gpu1.id; ids.gpu2 = gpu2.id;

  const paused = await api("POST", "/api/tasks", { command: { argv: ["sh", "-c", "for i in $(seq 1 1000); do echo step $i; sleep 1; done"] }, title: "rsync captures → storage", kind: "data_transfer" });
  ids.paused = paused.id;

  const cancelled = await api("POST", "/api/tasks", { title: "Upload results to blob storage", kind: "data_transfer", total: 120, unit: "files", heartbeat_timeout_s: 0 });
  await api("PATCH", `/api/tasks/${cancelled.id}`, { current: 37 });
  await api("PATCH", `/api/tasks/${cancelled.id}`, { state: "cancelled", error: "cancelled by user" });

  const vm = await api("POST", "/api/tasks", {
    title: "Provisioning Azure VM: Standard_D8ds_v5", kind: "vm_provision", heartbeat_timeout_s: 0,
    description: "Creating compute instance in westus2",
    metadata: { vm_size: "Standard_D8ds_v5", region: "westus2", cost_per_hour: 0.45 },
  });
  await api("PATCH", `/api/tasks/${vm.id}`, { message: "Provisioning → Starting" });
  ids.vm = vm.id;

  const bench = await api("POST", "/api/tasks", {
    title: "WAA Benchmark: qwen3vl-2b-epoch5", kind: "benchmark_run", heartbeat_timeout_s: 0,
    description: "Running 154 tasks with qwen3vl-2b-epoch5", total: 154, unit: "tasks",
    metadata: { model_id: "qwen3vl-2b-epoch5", workers: 4, successful_tasks: 38, failed_tasks: 12, success_rate: 0.76 },
  });
  ids.bench = bench.id;
  const steps = [
    ["task-046", "Open Notepad and type text", "completed"],
    ["task-047", "Navigate to Settings", "failed", "Timeout waiting for Settings window"],
    ["task-048", "Copy files between folders", "completed"],
    ["task-049", "Set desktop wallpaper", "completed"],
    ["task-050", "Install program from web", "running"],
  ];
  for (const [id, name, state, error] of steps) {
    await api("POST", `/api/tasks/${bench.id}/substeps`, { id, name, state: "running" });
    if (state !== "running") await api("PATCH", `/api/tasks/${bench.id}/substeps/${id}`, { state, ...(error ? { error } : {}) });
  }
  await api("POST", `/api/tasks/${bench.id}/logs`, { lines: [
    "Starting task-050: Install program from web",
    "Screenshot captured (step 1)",
    "Action: CLICK(x=0.42, y=0.31)",
    "Screenshot captured (step 2)",
    'Action: TYPE("example.exe")',
  ] });

  const pull = await api("POST", "/api/tasks", {
    title: "Pulling WAA Docker Image", kind: "docker_pull", heartbeat_timeout_s: 0,
    description: "Downloading openadaptacr.azurecr.io/winarena:latest", total: 8.5e9, unit: "B",
    metadata: { image_name: "winarena:latest", total_layers: 24, completed_layers: 11 },
  });
  ids.pull = pull.id;

  // A few progress reports spaced in time, so ETAs have a rate to work from.
  for (let i = 1; i <= 6; i++) {
    await api("PATCH", `/api/tasks/${pull.id}`, { current: 0.64e9 * i, message: `${Math.min(24, 2 * i - 1)}/24 layers` });
    await api("PATCH", `/api/tasks/${bench.id}`, { current: 8 * i + 2, message: `✓ ${6 * i + 2}  ✗ ${2 * i}  •  ${Math.round(100 * (6 * i + 2) / (8 * i + 2))}% success` });
    await api("PATCH", `/api/tasks/${vm.id}`, {});
    await sleep(250);
  }
  await api("POST", `/api/tasks/${paused.id}/pause`);
  return ids;
}
