package watcher

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestFileSystemOf(t *testing.T) {
	tests := []struct {
		magic uint32
		want  fileSystem
	}{
		{unix.NFS_SUPER_MAGIC, fileSystem{"nfs", true}},
		{unix.CIFS_SUPER_MAGIC, fileSystem{"smb", true}},
		{unix.SMB2_SUPER_MAGIC, fileSystem{"smb", true}},
		{unix.SMB_SUPER_MAGIC, fileSystem{"smb", true}},
		{unix.FUSE_SUPER_MAGIC, fileSystem{"fuse", true}},
		{unix.V9FS_MAGIC, fileSystem{"9p", true}},
		{unix.CEPH_SUPER_MAGIC, fileSystem{"ceph", true}},
		{unix.AFS_FS_MAGIC, fileSystem{"afs", true}},
		{lustreMagic, fileSystem{"lustre", true}},
		{unix.EXT4_SUPER_MAGIC, fileSystem{}},
		{unix.XFS_SUPER_MAGIC, fileSystem{}},
		{unix.BTRFS_SUPER_MAGIC, fileSystem{}},
		{unix.TMPFS_MAGIC, fileSystem{}},
		{unix.OVERLAYFS_SUPER_MAGIC, fileSystem{}}, // containers: events work
	}
	for _, tc := range tests {
		if got := fileSystemOf(tc.magic); got != tc.want {
			t.Errorf("fileSystemOf(%#x) = %+v, want %+v", tc.magic, got, tc.want)
		}
	}
}
