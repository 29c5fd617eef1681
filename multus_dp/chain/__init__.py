"""ADD/DEL/CHECK/GC/STATUS over a pod's attachments; rollback; the state journal."""
