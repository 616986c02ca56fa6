"""Threads sharing one model, and memory over many predictions."""

import threading

import numpy as np

import multiverseg as mvs


def run_task(model, disks, out, k):
    """A small task: two context entries, then a click on each remaining image."""
    s = mvs.Session(model)
    for img, truth, _ in disks[:2]:
        s.context_add(img, truth)
    res = []
    for img, _, (cx, cy) in disks[2:]:
        s.set_image(img)
        s.add_click(cx + k, cy)
        res.append(s.predict().probabilities)
    out[k] = res


def test_four_threads_sharing_one_model_equal_a_serial_run(model, disks):
    serial = {}
    for k in range(4):
        run_task(model, disks, serial, k)
    threaded = {}
    threads = [threading.Thread(target=run_task, args=(model, disks, threaded, k)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(threaded) == [0, 1, 2, 3]
    for k in range(4):
        for a, b in zip(serial[k], threaded[k]):
            assert np.array_equal(a, b)


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_a_thousand_predictions_do_not_grow_memory(model, disks):
    # No context: the ScribblePrompt-UNet runs (fast); the session's state still changes on
    # every call (prompts, mask input, last prediction).
    s = mvs.Session(model)
    _, _, (cx, cy) = disks[0]
    s.set_image(disks[1][0])
    for _ in range(50):  # warm up: allocator pools, backend caches
        s.add_click(cx, cy)
        s.predict()
        s.undo()
    before = rss_bytes()
    for i in range(1000):
        s.add_click(cx, cy, positive=i % 2 == 0)
        s.predict()
        s.undo()
    grown = rss_bytes() - before
    assert grown < 4 * 2**20, f"resident memory grew by {grown / 2**20:.1f} MiB"
