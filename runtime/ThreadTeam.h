//===- ThreadTeam.h - OpenMP threads awake in a call ----------*- C++ -*-===//
//
// A CPU module runs one OpenMP parallel region per kernel, a dozen per MoA
// layer. With threads that sleep as soon as a region ends (KMP_BLOCKTIME=0,
// what OMP_WAIT_POLICY=PASSIVE means), each region starts by waking them
// through the kernel: measured, a quarter of a small layer's time. So
// during a call the threads wait for the next region awake, and when the
// call returns they are sent to sleep at once: no thread spins between calls.
//
// A call also runs with denormal floats flushed to zero, as TensorFlow and
// XLA run theirs on x86: an FMA on a denormal operand takes a microcode
// assist, and router gradients through a softmax over many experts are full
// of them (measured: the router's weight gradient ran at 16 GFLOP/s instead
// of 68, the whole training step 5% slower). What is lost is below 1.2e-38.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_RUNTIME_THREADTEAM_H
#define MOA_RUNTIME_THREADTEAM_H

namespace moa::runtime {

/// The OpenMP runtime (LLVM's libomp) a module was linked with.
class ThreadTeam {
public:
  /// Finds libomp's controls among the module's dependencies (`handle` from
  /// dlopen); a module without OpenMP gives a team that does nothing, as
  /// does the default one.
  static ThreadTeam forModule(void *handle);

  /// Keeps the threads awake between the regions of one call, for the
  /// lifetime of the scope, then they sleep; and flushes denormals to zero
  /// in the calling thread meanwhile (libomp hands its floating-point mode
  /// to the other threads at each region, KMP_INHERIT_FP_CONTROL), restoring
  /// the caller's mode after.
  class CallScope {
  public:
    explicit CallScope(const ThreadTeam &team);
    ~CallScope();
    CallScope(const CallScope &) = delete;
    CallScope &operator=(const CallScope &) = delete;

  private:
    const ThreadTeam &team;
    unsigned callerFloatMode = 0; // MXCSR on x86
  };

private:
  void (*setBlocktime)(int milliseconds) = nullptr;
  void (*parallel)(void (*body)(void *), void *data, unsigned threads,
                   unsigned flags) = nullptr;
};

} // namespace moa::runtime

#endif // MOA_RUNTIME_THREADTEAM_H
