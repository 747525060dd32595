using System;

namespace VmcsGen.Bochs;

/// <summary>Bochs is not usable: a file is missing, the guest misbehaved, or a boot timed out. The message is one line saying what.</summary>
public sealed class BochsException(string message) : Exception(message);
