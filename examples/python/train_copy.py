"""A small PyTorch model with moa's MixtureOfAttention layer, trained on the
copy task with torch.optim.AdamW in an ordinary training loop.

Each sequence is L random symbols, a separator, then the same L symbols; the
model (token and position embeddings, pre-LN blocks of causal MoA attention
and a feed-forward network, untied output layer) predicts every next token,
and is scored on the copied half, where only attention can know the answer.
Held-out sequences are drawn from a generator the training data never uses.

    PYTHONPATH=python python3 examples/python/train_copy.py [--steps N]
"""
import argparse
import time

import torch
from torch import nn

import moa.torch as mt


class Block(nn.Module):
    def __init__(self, d, experts, k, head_dim):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attention = mt.MixtureOfAttention(d, experts, k, head_dim,
                                               causal=True)
        self.ffn = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(),
                                 nn.Linear(4 * d, d))

    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class CopyModel(nn.Module):
    def __init__(self, vocab, length, d=64, layers=2, experts=4, k=2,
                 head_dim=32):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.position = nn.Parameter(torch.randn(length, d) * 0.1)
        self.blocks = nn.ModuleList(Block(d, experts, k, head_dim)
                                    for _ in range(layers))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def forward(self, tokens):
        x = self.embed(tokens) + self.position[:tokens.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))

    def aux_loss(self):
        """The official coefficients: 0.01 load balancing + 0.001 z-loss."""
        return sum(0.01 * b.attention.load_balancing_loss() +
                   0.001 * b.attention.router_z_loss() for b in self.blocks)


def batch(generator, size, length, symbols):
    data = torch.randint(0, symbols, (size, length), generator=generator)
    separator = torch.full((size, 1), symbols)
    return torch.cat([data, separator, data], 1)


def copied_accuracy(model, tokens, length):
    with torch.no_grad():
        predicted = model(tokens[:, :-1]).argmax(-1)
    return (predicted[:, length:] == tokens[:, length + 1:]).float().mean()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--length", type=int, default=8)
    parser.add_argument("--symbols", type=int, default=16)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    train_data = torch.Generator().manual_seed(args.seed)
    held_out = batch(torch.Generator().manual_seed(10_000 + args.seed), 512,
                     args.length, args.symbols)
    model = CopyModel(args.symbols + 1, 2 * args.length + 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3,
                                  weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=3e-3, total_steps=args.steps, pct_start=0.1)
    start = time.time()
    for step in range(1, args.steps + 1):
        tokens = batch(train_data, args.batch, args.length, args.symbols)
        logits = model(tokens[:, :-1])
        loss = nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))
        optimizer.zero_grad()
        (loss + model.aux_loss()).backward()
        optimizer.step()
        schedule.step()
        if step % 100 == 0 or step == args.steps:
            accuracy = copied_accuracy(model, held_out, args.length)
            print(f"step {step:5d}  loss {loss.item():.4f}  held-out copy "
                  f"accuracy {accuracy:.4f}  ({time.time() - start:.1f} s)",
                  flush=True)
    print(f"final held-out copy accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
