"""When a run evaluates, keeps weights and backs up, by hand."""

from keras_gs.experiment.schedule import Schedule


def test_evaluations_on_the_users_terms():
    # 1000 steps, every 300: at 300, 600, 900 and the last step.
    schedule = Schedule(steps=1000, eval_every=300)
    assert schedule.evaluations() == [300, 600, 900, 1000]
    assert schedule.chunk == 100 and schedule.num_chunks == 10
    assert [schedule.chunk_end(e) for e in (0, 2, 9)] == [100, 300, 1000]
    assert [s for s in range(100, 1001, 100) if schedule.evaluates(s)] == [
        300,
        600,
        900,
        1000,
    ]


def test_conflicts_have_their_own_period():
    # gcd(600, 20, 30) = 10: conflicts at 0, 30, 60... fall on chunk ends.
    schedule = Schedule(steps=600, eval_every=20, conflicts_every=30)
    assert schedule.chunk == 10
    assert schedule.evaluations() == list(range(20, 601, 20))


def test_the_main_job_keeps_its_chunks():
    schedule = Schedule(steps=600, eval_every=20)
    assert schedule.chunk == 20 and schedule.num_chunks == 30


def test_weights_and_backups_at_the_first_evaluation_past_each_multiple():
    schedule = Schedule(
        steps=100, eval_every=30, checkpoint_every=50, backup_every=40
    )
    assert schedule.evaluations() == [30, 60, 90, 100]
    # Multiples of 50 (50, 100) are first reached at 60 and 100.
    assert [s for s in schedule.evaluations() if schedule.keeps_weights(s)] == [
        60,
        100,
    ]
    # Multiples of 40 (40, 80) at 60 and 90; never at the end (the run
    # writes its results there).
    assert [s for s in schedule.evaluations() if schedule.backs_up(s)] == [
        60,
        90,
    ]
    # Not at chunk ends that are not evaluations.
    assert not schedule.keeps_weights(50) and not schedule.backs_up(40)
