"""Launch examples/syne_tune_cifar10.py under syne-tune's Tuner with ASHA (four trials, 2 workers).

With the pinned syne-tune 0.14.2 the schedulers come from ``legacy_baselines``
(``syne_tune.optimizer.baselines`` fails to import: ``cannot import name 'Bore'``).
"""

from pathlib import Path

from syne_tune import StoppingCriterion
from syne_tune import Tuner
from syne_tune.backend import LocalBackend
from syne_tune.optimizer.legacy_baselines import ASHA

from ohgw.schedulers.synetune import quiet_legacy_notice

SCRIPT = Path(__file__).with_name("syne_tune_cifar10.py")


def launch(trials: int = 4, workers: int = 2) -> Tuner:
    """Tune until ``trials`` trials have finished, ``workers`` at a time; the finished tuner."""
    import runpy

    space = runpy.run_path(str(SCRIPT))["SPACE"]  # the script's names; its main() does not run
    # the script's SPACE has lr, weight_decay and momentum: the keys SGD() reads by default
    config_space = {**space.to_syne_tune(), "epochs": 2, "train_size": 256}
    quiet_legacy_notice()  # drops Tuner's per-trial "Scheduler ASHA is deprecated" warning
    scheduler = ASHA(
        config_space,
        metric="accuracy",
        mode="max",
        resource_attr="epoch",
        max_resource_attr="epochs",
        random_seed=0,
    )
    tuner = Tuner(
        trial_backend=LocalBackend(entry_point=str(SCRIPT)),
        scheduler=scheduler,
        stop_criterion=StoppingCriterion(max_num_trials_finished=trials),
        n_workers=workers,
        sleep_time=1.0,  # poll the workers each second (syne-tune's default: 5 s)
        save_tuner=False,
    )
    tuner.run()
    return tuner


def main() -> None:
    tuner = launch()
    print(f"trials finished: {tuner.tuning_status.num_trials_finished}")


if __name__ == "__main__":
    main()
