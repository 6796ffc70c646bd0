"""The run's training time read back from TensorBoard event files: each writing process's first
to last event, summed, so that the pause between a stop and its resume is not counted."""

from tfbvae.training import event_files


def test_training_seconds_sums_each_process_and_skips_the_pause(tmp_path, write_events):
    # Process 101 writes two files (its scalar and picture writers) over 100 s; the run is
    # stopped for 10,000 s; process 202 resumes it and writes for 50 s.
    write_events(tmp_path / "events.out.tfevents.1000.vm.101.0.v2", [1000.0, 1060.0, 1090.0])
    write_events(tmp_path / "events.out.tfevents.1010.vm.101.2.v2", [1010.0, 1100.0])
    write_events(tmp_path / "events.out.tfevents.11100.vm.202.0.v2", [11100.0, 11150.0])
    assert event_files.training_seconds(tmp_path) == 100.0 + 50.0
    assert event_files.writer_process(tmp_path / "events.out.tfevents.1000.vm.101.0.v2") == "vm.101"
    # A host name with dots is kept whole.
    assert event_files.writer_process(tmp_path / "events.out.tfevents.5.a.b.c.7.3.v2") == "a.b.c.7"


def test_a_silence_far_longer_than_the_logging_interval_is_a_pause(tmp_path, write_events):
    # One process logs every 10 s for 100 s, is stopped for 720 s (SIGSTOP), logs 50 s more.
    times = [1000.0 + 10 * i for i in range(11)] + [1820.0 + 10 * i for i in range(6)]
    write_events(tmp_path / "events.out.tfevents.1000.vm.7.0.v2", times)
    assert event_files.training_seconds(tmp_path) == 100.0 + 50.0
    # Events written together (one step's scalars) are one moment; a 60 s validation is not a pause.
    assert event_files.active_seconds([0.0, 0.001, 0.002, 10.0, 10.001, 20.0, 80.0, 90.0]) == 90.0
    # A process that logs every 10 minutes is not "paused" between its logs.
    assert event_files.active_seconds([0.0, 600.0, 1200.0, 1800.0]) == 1800.0


def test_training_seconds_of_no_events(tmp_path, write_events):
    assert event_files.training_seconds(tmp_path / "absent") is None
    write_events(tmp_path / "events.out.tfevents.1.vm.1.0.v2", [5.0])
    assert event_files.training_seconds(tmp_path) == 0.0
