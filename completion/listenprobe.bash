# bash completion for listenprobe(1)                              -*- shell-script -*-
_listenprobe() {
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        _init_completion || return
    else
        cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
    fi
    local sub="" i
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
        replay | probe | watch | timeline | plans | cleanup) sub=${words[i]}; break ;;
        esac
    done
    local output="--format --json --timeline -v --events --color"
    case $prev in
    --format) mapfile -t COMPREPLY < <(compgen -W "text json jsonl" -- "$cur"); return ;;
    --color) mapfile -t COMPREPLY < <(compgen -W "auto always never" -- "$cur"); return ;;
    --plan)
        mapfile -t COMPREPLY < <(compgen -W "$(listenprobe plans 2>/dev/null | awk '{print $1}')" -- "$cur")
        [[ $cur == */* || $cur == .* ]] && mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -f -X '!*.toml' -- "$cur")
        return ;;
    -i | --interface)
        mapfile -t COMPREPLY < <(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur"); return ;;
    --user) mapfile -t COMPREPLY < <(compgen -u -- "$cur"); return ;;
    --timeline | -o | --output | -w | --write | --chart | --targets | --resume) mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
    --listener | --max-connections | --rate | --max-wait | --duration | --shard | --parallel) return ;;
    esac
    local opts
    case $sub in
    "") opts="replay probe watch timeline plans cleanup --help --version" ;;
    replay) opts="--listener -4 -6 $output --shard --resume --parallel --help" ;;
    timeline) opts="--listener -4 -6 -o --output --chart --help" ;;
    probe) opts="-4 -6 -i --interface --plan -w --write --max-connections --rate --user --max-wait --quiet $output --targets --shard --resume --parallel --help" ;;
    watch) opts="-i --interface --listener --duration --user -4 -6 $output --help" ;;
    plans | cleanup) opts="--help" ;;
    esac
    if [[ $cur == -* || $sub == "" || $sub == plans || $sub == cleanup || $sub == probe || $sub == watch ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
    else
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")  # FILE (pcap, pcapng, tcpdump text)
    fi
}
complete -F _listenprobe listenprobe
