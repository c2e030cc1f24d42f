# With PyTorch 2.4 and later the layer is the custom op
# moa::mixture_attention: torch.compile(fullgraph=True) traces a model that
# uses it without graph breaks, and its loss and gradients equal eager mode's
# (the same compiled moa code runs in both).
# REQUIRES: torch-custom-op
# RUN: rm -rf %t && MOA_CACHE_DIR=%t %python %s | FileCheck %s
# CHECK: op: moa::mixture_attention
# CHECK: compiled loss equals eager: True
# CHECK: compiled gradients equal eager: True
# CHECK: opaque to the graph: True
import torch

import moa.torch as mt

torch.manual_seed(0)
layer = mt.MixtureOfAttention(64, 8, 2, 16, causal=True)
with torch.no_grad():
    layer.w_gate.normal_()
norm = torch.nn.LayerNorm(64)
x = torch.randn(3, 11, 64)


def loss_fn(x):
    y = layer(norm(x))
    return y.square().mean() + 0.01 * layer.load_balancing_loss() + \
        0.001 * layer.router_z_loss()


print("op:", torch.ops.moa.mixture_attention.default.name())
eager = loss_fn(x)
eager.backward()
grads = [p.grad.clone() for p in layer.parameters()]
layer.zero_grad()

graphs = []


def backend(graph, example_inputs):
    graphs.append(graph)
    return graph.forward


compiled = torch.compile(loss_fn, fullgraph=True)
loss = compiled(x)
loss.backward()
print("compiled loss equals eager:", torch.allclose(loss, eager, rtol=1e-6))
print("compiled gradients equal eager:",
      all(torch.allclose(p.grad, g, rtol=1e-5, atol=1e-7)
          for p, g in zip(layer.parameters(), grads)))
torch.compile(loss_fn, fullgraph=True, backend=backend)(x)
print("opaque to the graph:", any("moa.mixture_attention" in str(n.target)
                                  for n in graphs[0].graph.nodes))
