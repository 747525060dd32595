namespace VmcsGen.Nested;

/// <summary>L0's view of its backend: every instruction passes through and is counted; no allocation, no dispatch.</summary>
internal struct CountingVmcs<TBackend> : IVmcs
    where TBackend : struct, IVmcs
{
    private TBackend _inner;
    private readonly CounterBox _box;

    public CountingVmcs(TBackend inner, CounterBox box)
    {
        _inner = inner;
        _box = box;
    }

    public VmxResult VmRead(uint encoding, out ulong value)
    {
        _box.Counts.VmReads++;
        return _inner.VmRead(encoding, out value);
    }

    public VmxResult VmWrite(uint encoding, ulong value)
    {
        _box.Counts.VmWrites++;
        if (_box.Current == _box.Vmcs02Address && VmcsEncoding.IsMajorControl(encoding))
        {
            _box.Counts.ControlVmWrites++;
            _box.Vmcs02ControlsChanged = true;
        }

        return _inner.VmWrite(encoding, value);
    }

    public VmxResult VmPtrLd(ulong address)
    {
        _box.Counts.VmPtrLds++;
        var result = _inner.VmPtrLd(address);
        if (result.IsSuccess)
        {
            _box.Current = address;
        }

        return result;
    }

    public VmxResult VmClear(ulong address)
    {
        _box.Counts.VmClears++;
        if (_box.Current == address)
        {
            _box.Current = ulong.MaxValue;
        }

        return _inner.VmClear(address);
    }
}
