#!/usr/bin/env bash
# Install SLURM from Debian's packages and start a one-node cluster on this machine
# (slurmctld + slurmd + munge, partitions "cpu" and "gpu" as profiles/slurm names them),
# so tests/test_slurm.py can submit the smoke workflow through the real profile.
# Needs root and apt. Rerunning it rewrites the configuration and restarts the daemons.
set -euo pipefail

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q slurmctld slurmd slurm-client munge
fi

node=$(hostname -s)
# Two job slots per core: a test job is mostly process start-up and waiting (imports, snakemake's DAG, a
# vLLM engine starting), so with one slot per core short data jobs queued behind evaluation jobs.
# slurmd takes the declared count as given (SlurmdParameters=config_overrides).
slots=$(( 2 * $(nproc) ))
# Leave the OS 1 GB; the node must not claim more than it has or slurmd drains it.
mem_mb=$(( $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) - 1024 ))

mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
chown munge:munge /run/munge 2>/dev/null || true

# The "gpu" partition and placeholder GPUs (null devices) let the profile's GPU requests
# (gres gpu:1) be scheduled on a machine without one; the jobs then run on the CPU. One placeholder per
# slot, so GPU jobs run as many at a time as CPU jobs do (with one, every model job queued behind the last).
cat > /etc/slurm/slurm.conf <<EOF
ClusterName=localhost
SlurmctldHost=${node}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
MpiDefault=none
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmdParameters=config_overrides
# squeue must still see finished jobs when the executor plugin asks for their state.
MinJobAge=600
GresTypes=gpu
NodeName=${node} CPUs=${slots} RealMemory=${mem_mb} Gres=gpu:${slots} State=UNKNOWN
PartitionName=cpu Nodes=${node} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=${node} MaxTime=INFINITE State=UP
EOF
# Each placeholder GPU is a device file: a copy of /dev/null (char 1:3), as SLURM's gpu plugin wants files.
: > /etc/slurm/gres.conf
for i in $(seq 0 $((slots - 1))); do
  [ -e "/dev/placeholder-gpu${i}" ] || mknod "/dev/placeholder-gpu${i}" c 1 3
  echo "NodeName=${node} Name=gpu File=/dev/placeholder-gpu${i}" >> /etc/slurm/gres.conf
done

# Restart so the daemons read the configuration just written.
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
pkill -x slurmd || true
pkill -x slurmctld || true
sleep 1
slurmctld
slurmd

for _ in $(seq 1 30); do
  if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
    sinfo
    exit 0
  fi
  scontrol update nodename="${node}" state=resume >/dev/null 2>&1 || true
  sleep 1
done
echo "SLURM did not come up; logs:" >&2
tail -n 30 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
exit 1
