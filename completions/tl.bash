# bash completion for tl (tasklight): subcommands, options, and live task
# ids from `tl __complete-ids` (one quick request to the daemon).
# Installed as PREFIX/share/bash-completion/completions/tl; or source it.

_tl_commands="serve add ls show log wait watch cancel pause resume retry rm
parallel clean stats track done demo progress step note meta result
log-line help"

_tl_options() {
    case $1 in
    add) echo "-p --priority -g --group -t --title --kind --timeout --retries
               --key -w --wait -f --follow --print-id --json" ;;
    ls) echo "-a --all -n --limit -s --state -g --group --kind -q --search
              --json" ;;
    show | stats) echo "--json" ;;
    log) echo "-n --tail -f --follow" ;;
    wait) echo "--timeout -q --quiet --json" ;;
    watch) echo "-f --filter" ;;
    parallel) echo "-g --group --json" ;;
    clean) echo "--older-than --json" ;;
    track) echo "-t --title --kind --description --key --total --unit
                 --heartbeat --json" ;;
    done) echo "--failed --cancelled --result -m --message --task --json" ;;
    serve) echo "--listen --no-tcp" ;;
    progress) echo "--current --total --unit --task" ;;
    step) echo "--id --state --progress --error --task" ;;
    note | meta | result) echo "--task" ;;
    log-line) echo "--stream --tee --task" ;;
    esac
    echo "--data-dir --socket --no-color --help"
}

# The states whose tasks a command takes ("" for any; "-" for none).
_tl_id_states() {
    case $1 in
    show | log) echo "" ;;
    wait) echo "queued running paused" ;;
    cancel) echo "queued running paused" ;;
    pause | done) echo "running" ;;
    resume) echo "paused" ;;
    retry) echo "failed cancelled" ;;
    rm) echo "completed failed cancelled queued" ;;
    *) echo "-" ;;
    esac
}

_tl() {
    local cur prev cmd="" i w states
    local -a global=()
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    COMPREPLY=()

    # the command, and the instance options to pass on to tl itself
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        case $w in
        --data-dir | --socket)
            global+=("$w" "${COMP_WORDS[i + 1]}")
            ((i++))
            ;;
        --data-dir=* | --socket=*) global+=("$w") ;;
        -*) ;;
        *) [[ -z $cmd ]] && cmd=$w ;;
        esac
    done

    case $prev in
    --data-dir)
        COMPREPLY=($(compgen -d -- "$cur"))
        return
        ;;
    --socket)
        COMPREPLY=($(compgen -f -- "$cur"))
        return
        ;;
    -s | --state)
        if [[ $cmd == step ]]; then
            COMPREPLY=($(compgen -W "queued running completed failed cancelled" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "queued running paused completed failed cancelled" -- "$cur"))
        fi
        return
        ;;
    -p | --priority)
        COMPREPLY=($(compgen -W "low normal high" -- "$cur"))
        return
        ;;
    --stream)
        COMPREPLY=($(compgen -W "stdout stderr info" -- "$cur"))
        return
        ;;
    --task)
        COMPREPLY=($(compgen -W "$(tl "${global[@]}" __complete-ids running 2>/dev/null | cut -f1)" -- "$cur"))
        return
        ;;
    -g | --group | -t | --title | --kind | --timeout | --retries | --key | \
        -n | --limit | -q | --search | --tail | --filter | --older-than | \
        --description | --total | --unit | --heartbeat | --failed | --result | \
        -m | --message | --listen | --current | --id | --progress | --error)
        return
        ;;
    esac

    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "--data-dir --socket --no-color --help --version" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$_tl_commands" -- "$cur"))
        fi
        return
    fi
    if [[ $cmd == help ]]; then
        COMPREPLY=($(compgen -W "$_tl_commands" -- "$cur"))
        return
    fi
    if [[ $cmd == add ]]; then
        # after the options comes the command to run
        for ((i = 2; i < COMP_CWORD; i++)); do
            if [[ ${COMP_WORDS[i]} == -- ]]; then
                COMPREPLY=($(compgen -c -- "$cur"))
                return
            fi
        done
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_tl_options "$cmd")" -- "$cur"))
        return
    fi
    states=$(_tl_id_states "$cmd")
    [[ $states == - ]] && return
    # shellcheck disable=SC2086
    COMPREPLY=($(compgen -W "$(tl "${global[@]}" __complete-ids $states 2>/dev/null | cut -f1)" -- "$cur"))
}

complete -F _tl tl
