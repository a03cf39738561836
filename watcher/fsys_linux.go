package watcher

import "golang.org/x/sys/unix"

// Magic numbers of remote and cluster file systems that the x/sys/unix
// package does not name (from their kernel or FUSE-less client sources).
const (
	gfs2Magic   = 0x01161970
	lustreMagic = 0x0bd00bd0
	gpfsMagic   = 0x47504653
	vboxsfMagic = 0x786f4256
	prlfsMagic  = 0x7c7c6673
	beegfsMagic = 0x19830326
)

// detectFileSystem names the file system dir lives on, by the type magic
// statfs reports, and says whether it is remote: one where files may be
// written by another machine (or, for FUSE, by a user-space process whose
// backend changes behind the kernel's back), so inotify never hears of
// them. An error, or a type not listed, counts as local.
func detectFileSystem(dir string) fileSystem {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fileSystem{}
	}
	return fileSystemOf(uint32(st.Type))
}

// fileSystemOf names the file system with the statfs type magic.
func fileSystemOf(magic uint32) fileSystem {
	var name string
	switch magic {
	case unix.NFS_SUPER_MAGIC:
		name = "nfs"
	case unix.SMB_SUPER_MAGIC, unix.CIFS_SUPER_MAGIC, unix.SMB2_SUPER_MAGIC:
		name = "smb"
	case unix.FUSE_SUPER_MAGIC: // sshfs, rclone mount, s3fs, glusterfs, virtiofs...
		name = "fuse"
	case unix.V9FS_MAGIC: // WSL2's Windows drives, VM shared folders
		name = "9p"
	case unix.CEPH_SUPER_MAGIC:
		name = "ceph"
	case unix.AFS_FS_MAGIC, unix.AFS_SUPER_MAGIC:
		name = "afs"
	case unix.CODA_SUPER_MAGIC:
		name = "coda"
	case unix.NCP_SUPER_MAGIC:
		name = "ncp"
	case unix.OCFS2_SUPER_MAGIC:
		name = "ocfs2"
	case gfs2Magic:
		name = "gfs2"
	case lustreMagic:
		name = "lustre"
	case gpfsMagic:
		name = "gpfs"
	case vboxsfMagic:
		name = "vboxsf"
	case prlfsMagic:
		name = "prl_fs"
	case beegfsMagic:
		name = "beegfs"
	default:
		return fileSystem{}
	}
	return fileSystem{name: name, remote: true}
}
