using System;

namespace VmcsGen.Runtime.Tests;

/// <summary>One scripted KVM_RUN: fail with <see cref="Errno"/>, or return with <see cref="Fill"/> writing <c>struct kvm_run</c>.</summary>
internal sealed record FakeRun(int Errno = 0, Action<byte[]>? Fill = null);
