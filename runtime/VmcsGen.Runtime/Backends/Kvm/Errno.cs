namespace VmcsGen.Backends.Kvm;

internal static class Errno
{
    public const int EPERM = 1, ENOENT = 2, EINTR = 4, E2BIG = 7, EBADF = 9, EACCES = 13, EFAULT = 14, EEXIST = 17, ENODEV = 19, EINVAL = 22, ENOTTY = 25;

    public static string Name(int errno) => errno switch
    {
        EPERM => "EPERM",
        ENOENT => "ENOENT",
        EINTR => "EINTR",
        E2BIG => "E2BIG",
        EBADF => "EBADF",
        EACCES => "EACCES",
        EFAULT => "EFAULT",
        EEXIST => "EEXIST",
        ENODEV => "ENODEV",
        EINVAL => "EINVAL",
        ENOTTY => "ENOTTY",
        _ => "errno",
    };
}
