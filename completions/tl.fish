# fish completion for tl (tasklight): subcommands, options, and live task
# ids with their titles from `tl __complete-ids`.
# Installed as PREFIX/share/fish/vendor_completions.d/tl.fish.

function __tl_ids --description 'task ids of tl, with titles'
    # pass the instance options given on the command line on to tl
    set -l tokens (commandline -opc)
    set -l global
    for i in (seq (count $tokens))
        switch $tokens[$i]
            case --data-dir --socket
                set -a global $tokens[$i] $tokens[(math $i + 1)]
            case '--data-dir=*' '--socket=*'
                set -a global $tokens[$i]
        end
    end
    tl $global __complete-ids $argv 2>/dev/null
end

set -l __tl_cmds serve add ls show log wait watch cancel pause resume retry rm parallel clean stats track done demo progress step note meta result log-line help

complete -c tl -f
complete -c tl -l data-dir -r -a '(__fish_complete_directories)' -d 'the instance directory'
complete -c tl -l socket -r -F -d 'the daemon socket'
complete -c tl -l no-color -d 'no colour'
complete -c tl -s h -l help -d 'show help'
complete -c tl -n "not __fish_seen_subcommand_from $__tl_cmds" -s V -l version -d 'print the version'

complete -c tl -n "not __fish_seen_subcommand_from $__tl_cmds" -a serve -d 'run the daemon'
complete -c tl -n "not __fish_seen_subcommand_from $__tl_cmds" -a add -d 'add a task'
complete -c tl -n "not __fish_seen_subcommand_from $__tl_cmds" -a ls -d 'list tasks'
complete -c tl -n "not __fish_seen_subcommand_from $__tl_cmds" -a show -d 'show one task'
complete -c tl -n "not __fish_seen_subcommand_from $__tl_cmds" -a log -d "print a task's output"
complete -c tl -n "not __fish_seen_subcommand_from $__tl_cmds" -a wait -d 'wait until tasks finish'
complete -c tl -n "not __fish_seen_subcommand_from $__tl_cmds" -a watch -d 'a live full-screen view'
complete -c tl -n "not __fish_seen_subcommand_from $__tl_cmds" -a cancel -d 'cancel tasks'
complete -c tl -n "not __fish_seen_subcommand_from $__tl_cmds" -a pause -d 'pause running tasks'
complete -c tl -n "not __fish_seen_subcommand_from $__tl_cmds" -a resume -d 'resume paused tasks'
complete -c tl -n "not __fish_seen_subcommand_from $__tl_cmds" -a retry -d 'queue failed tasks again'
complete -c tl -n "not __fish_seen_subcommand_from $__tl_cmds" -a rm -d 'remove finished tasks'
complete -c tl -n "not __fish_seen_subcommand_from $__tl_cmds" -a parallel -d 'tasks a group runs at once'
complete -c tl -n "not __fish_seen_subcommand_from $__tl_cmds" -a clean -d 'remove old finished tasks'
complete -c tl -n "not __fish_seen_subcommand_from $__tl_cmds" -a stats -d 'counts, success rates, durations'
complete -c tl -n "not __fish_seen_subcommand_from $__tl_cmds" -a track -d 'register work this shell does'
complete -c tl -n "not __fish_seen_subcommand_from $__tl_cmds" -a done -d 'end a tracked task'
complete -c tl -n "not __fish_seen_subcommand_from $__tl_cmds" -a demo -d 'add demo tasks'
complete -c tl -n "not __fish_seen_subcommand_from $__tl_cmds" -a progress -d 'report progress (in a task)'
complete -c tl -n "not __fish_seen_subcommand_from $__tl_cmds" -a step -d 'add or update a substep'
complete -c tl -n "not __fish_seen_subcommand_from $__tl_cmds" -a note -d 'set the status message'
complete -c tl -n "not __fish_seen_subcommand_from $__tl_cmds" -a meta -d 'merge KEY=VALUE metadata'
complete -c tl -n "not __fish_seen_subcommand_from $__tl_cmds" -a result -d 'set the result (JSON)'
complete -c tl -n "not __fish_seen_subcommand_from $__tl_cmds" -a log-line -d 'append lines to the log'
complete -c tl -n "not __fish_seen_subcommand_from $__tl_cmds" -a help -d 'show help'
complete -c tl -n '__fish_seen_subcommand_from help' -a "$__tl_cmds"

# task ids
complete -c tl -n '__fish_seen_subcommand_from show log' -a '(__tl_ids)'
complete -c tl -n '__fish_seen_subcommand_from wait cancel' -a '(__tl_ids queued running paused)'
complete -c tl -n '__fish_seen_subcommand_from pause done' -a '(__tl_ids running)'
complete -c tl -n '__fish_seen_subcommand_from resume' -a '(__tl_ids paused)'
complete -c tl -n '__fish_seen_subcommand_from retry' -a '(__tl_ids failed cancelled)'
complete -c tl -n '__fish_seen_subcommand_from rm' -a '(__tl_ids completed failed cancelled queued)'
complete -c tl -n '__fish_seen_subcommand_from progress step note meta result log-line done' -l task -x -a '(__tl_ids running)' -d 'the task'

# options
complete -c tl -n '__fish_seen_subcommand_from add' -s p -l priority -x -a 'low normal high' -d priority
complete -c tl -n '__fish_seen_subcommand_from add ls parallel' -s g -l group -x -d group
complete -c tl -n '__fish_seen_subcommand_from add track' -s t -l title -x -d title
complete -c tl -n '__fish_seen_subcommand_from add ls track' -l kind -x -d kind
complete -c tl -n '__fish_seen_subcommand_from add wait' -l timeout -x -d duration
complete -c tl -n '__fish_seen_subcommand_from add' -l retries -x -d 'retries'
complete -c tl -n '__fish_seen_subcommand_from add track' -l key -x -d 'unique key'
complete -c tl -n '__fish_seen_subcommand_from add' -s w -l wait -d 'wait for it'
complete -c tl -n '__fish_seen_subcommand_from add log' -s f -l follow -d 'follow the output'
complete -c tl -n '__fish_seen_subcommand_from add' -l print-id -d 'print only the id'
complete -c tl -n '__fish_seen_subcommand_from add ls show wait parallel clean stats track done' -l json -d 'print JSON'
complete -c tl -n '__fish_seen_subcommand_from ls' -s a -l all -d 'every task'
complete -c tl -n '__fish_seen_subcommand_from ls' -s n -l limit -x -d 'at most N'
complete -c tl -n '__fish_seen_subcommand_from ls' -s s -l state -x -a 'queued running paused completed failed cancelled'
complete -c tl -n '__fish_seen_subcommand_from ls' -s q -l search -x -d 'text'
complete -c tl -n '__fish_seen_subcommand_from log' -s n -l tail -x -d 'last N lines'
complete -c tl -n '__fish_seen_subcommand_from wait' -s q -l quiet -d 'no live line'
complete -c tl -n '__fish_seen_subcommand_from watch' -s f -l filter -x -d 'filter'
complete -c tl -n '__fish_seen_subcommand_from clean' -l older-than -x -d 'age'
complete -c tl -n '__fish_seen_subcommand_from track' -l description -x
complete -c tl -n '__fish_seen_subcommand_from track progress' -l total -x
complete -c tl -n '__fish_seen_subcommand_from track progress' -l unit -x
complete -c tl -n '__fish_seen_subcommand_from track' -l heartbeat -x -d 'lost after'
complete -c tl -n '__fish_seen_subcommand_from done' -l failed -x -d 'it failed: ERROR'
complete -c tl -n '__fish_seen_subcommand_from done' -l cancelled
complete -c tl -n '__fish_seen_subcommand_from done' -l result -x -d 'JSON'
complete -c tl -n '__fish_seen_subcommand_from done' -s m -l message -x
complete -c tl -n '__fish_seen_subcommand_from serve' -l listen -x -d 'HOST:PORT'
complete -c tl -n '__fish_seen_subcommand_from serve' -l no-tcp
complete -c tl -n '__fish_seen_subcommand_from progress' -l current -x
complete -c tl -n '__fish_seen_subcommand_from step' -l id -x
complete -c tl -n '__fish_seen_subcommand_from step' -l state -x -a 'queued running completed failed cancelled'
complete -c tl -n '__fish_seen_subcommand_from step' -l progress -x
complete -c tl -n '__fish_seen_subcommand_from step' -l error -x
complete -c tl -n '__fish_seen_subcommand_from log-line' -l stream -x -a 'stdout stderr info'
complete -c tl -n '__fish_seen_subcommand_from log-line' -l tee
