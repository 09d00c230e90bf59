"""A syne-tune training script for CIFAR-10 + a ResNet; OHGW is the lines marked ``# ohgw``.

Remove those lines and it is the same script without the warm start: that is the integration.
Run it alone (``python examples/syne_tune_cifar10.py --lr 0.1 ...``) or as a syne-tune entry point.
"""

from __future__ import annotations

import argparse

import torch
from syne_tune import Reporter
from syne_tune.utils import add_checkpointing_to_argparse

from ohgw import SGD  # ohgw
from ohgw import Continuous
from ohgw import SearchSpace
from ohgw import random_flip
from ohgw import random_translate
from ohgw import smoothed_cross_entropy
from ohgw import warm_start  # ohgw
from ohgw.data import load_cifar10
from ohgw.models import resnet20

# The paper's five continuous hyperparameters.
SPACE = SearchSpace(
    [
        Continuous("lr", 1e-3, 1.0, "log"),
        Continuous("weight_decay", 1e-5, 1e-2, "log"),
        Continuous("momentum", 0.5, 0.99),
        Continuous("aug_magnitude", 0.0, 1.0),
        Continuous("label_smoothing", 0.0, 0.3),
    ]
)


def loss(forward, batch, hp):
    """The training loss; ``hp`` holds floats in training and tensors in the warm start."""
    images, labels = batch
    images = random_translate(random_flip(images), hp["aug_magnitude"])
    return smoothed_cross_entropy(forward(images), labels, hp["label_smoothing"])


def shuffled_batches(images, labels, batch_size, seed):
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(len(labels), generator=generator)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            index = order[start : start + batch_size]
            yield images[index], labels[index]


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in SPACE.names:
        parser.add_argument(f"--{name}", type=float, required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train_size", type=int, default=1024)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    add_checkpointing_to_argparse(parser)  # syne-tune passes --st_checkpoint_dir
    args = parser.parse_args()
    config = {name: getattr(args, name) for name in SPACE.names}

    torch.manual_seed(args.seed)
    train_images, train_labels = load_cifar10("train", limit=args.train_size)
    val_images, val_labels = load_cifar10("test", limit=500)
    model = resnet20(width=8)
    warm = shuffled_batches(train_images, train_labels, args.batch_size, args.seed + 1)  # ohgw
    config, record = warm_start(config, SPACE, model, warm, loss, SGD(), seed=args.seed)  # ohgw
    print(f"warm start moved psi {record.psi_before} -> {record.psi_after}")  # ohgw

    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config["lr"],
        momentum=config["momentum"],
        weight_decay=config["weight_decay"],
    )
    report = Reporter()
    batches = shuffled_batches(train_images, train_labels, args.batch_size, args.seed)
    for epoch in range(1, args.epochs + 1):
        model.train()
        for _ in range(args.train_size // args.batch_size):
            optimizer.zero_grad()
            loss(model, next(batches), config).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            accuracy = (model(val_images).argmax(1) == val_labels).float().mean().item()
        report(epoch=epoch, accuracy=accuracy, **config)


if __name__ == "__main__":
    main()
